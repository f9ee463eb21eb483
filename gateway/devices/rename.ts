/**
 * A Zigbee2MQTT device renamed (its frontend, or `bridge/request/device/rename`) keeps its
 * ieee_address but speaks and listens on its new friendly name at once: Zigbee2MQTT clears the
 * old name's retained state and availability, publishes the new `bridge/devices`, the device's
 * state on `<base>/<new name>`, then answers on `bridge/response/device/rename` (Koenkk/zigbee2mqtt
 * lib/extension/bridge.ts renameEntity). The device map follows it (learnt.ts tells of the rename
 * as soon as the list says it): the entries that named the old name name the new one, in force
 * before the next message is routed and written to DEVICES_FILE (map-edit.ts, keeping comments);
 * a placement keeps its contract device. When the map names the new name already, nothing is
 * changed: the reason is logged, counted and noted on the device (GET /api/devices).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { logError, logWarn } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';
import { renameNative } from './map-edit.js';
import type { DeviceMapLoader } from './map-loader.js';
import { parseNativeKey, type DeviceMap, type NativeActuator, type NativeDevice } from './map.js';
import { DeviceRegistry } from './registry.js';
import type { NativeRouter } from './router.js';
import type { Family, Zigbee2mqttRename } from './types.js';

const q = JSON.stringify;

/** The map's entries that name `<family>:<native id>`: `devices."…"`, `actuators."<site>/<zone>/<actuator>"`. */
export function entriesNaming(map: DeviceMap, family: Family, nativeId: string): string[] {
  const key = `${family}:${nativeId}`;
  const out = map.devices.has(key) ? [`devices.${q(key)}`] : [];
  for (const a of map.actuators.values()) if (a.family === family && a.nativeId === nativeId) out.push(`actuators.${q(a.target)}`);
  return out;
}

/** The map with the entries naming `from` naming `to`; placements keep their contract device (a default one was the old name's). */
export function renamedMap(map: DeviceMap, family: Family, from: string, to: string): DeviceMap {
  const [fromKey, toKey] = [`${family}:${from}`, `${family}:${to}`];
  const devices = new Map<string, NativeDevice>();
  for (const [k, d] of map.devices) devices.set(k === fromKey ? toKey : k, k === fromKey ? { ...d, key: toKey, nativeId: to } : d);
  const actuators = new Map<string, NativeActuator>();
  for (const [t, a] of map.actuators) actuators.set(t, a.family === family && a.nativeId === from ? { ...a, nativeId: to } : a);
  return { ...map, devices, actuators };
}

export interface RenameFollowerOptions {
  readonly router: NativeRouter;
  readonly loader: DeviceMapLoader;
  /** DEVICES_FILE */
  readonly file: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** ZIGBEE2MQTT_BASE_TOPIC: the bridge the map's `zigbee2mqtt:` entries are commanded through, the only one whose renames are followed. */
  readonly base: string;
}

export class RenameFollower {
  /** The file edits, one after another (a bulk rename in the frontend is several). */
  private saving: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(private readonly o: RenameFollowerOptions) {}

  /** Synchronous: the map in force names the new name before the next message is routed. */
  follow(r: Zigbee2mqttRename): void {
    const { router, log } = this.o;
    const family = 'zigbee2mqtt';
    const [from, to] = [`${family}:${r.from}`, `${family}:${r.to}`];
    const fields = { from, to, base: r.base, by: r.by, ...(r.ieee === undefined ? {} : { ieee: r.ieee }) };
    const map = router.map;
    // Another bridge (another base) names its own devices: the map's entries are the main bridge's.
    if (r.base !== this.o.base) {
      this.count('not_in_map');
      log.info(fields, `Zigbee2MQTT bridge ${r.base} renamed ${r.from} to ${r.to}; the device map's zigbee2mqtt entries are bridge ${this.o.base}'s: nothing to follow`);
      return;
    }
    // A name the map could not hold (a topic wildcard, too long) is not followed: commands would go nowhere.
    if (typeof parseNativeKey(to) === 'string') {
      this.count('conflict');
      logWarn(log, 'GW_ERR_DEVICE_RENAME', fields, `Zigbee2MQTT renamed ${from} to ${to}, which is not a name the device map can hold: not followed; ${from}'s commands go to the old name`);
      return;
    }
    const entries = entriesNaming(map, family, r.from);
    if (entries.length === 0) {
      this.count('not_in_map');
      log.info(fields, `Zigbee2MQTT renamed ${from} to ${to}; the device map does not name ${from}: nothing to follow`);
      return;
    }
    const taken = entriesNaming(map, family, r.to);
    if (taken.length > 0) {
      this.count('conflict');
      const why = `Zigbee2MQTT renamed ${from} to ${to}, but the device map names ${to} already (${taken.join(', ')}): not followed. ${entries.join(', ')} still name ${from}, and its commands go to the old name, which nothing hears: edit DEVICES_FILE so that one entry names ${to} (or rename the device again in Zigbee2MQTT)`;
      logWarn(log, 'GW_ERR_DEVICE_RENAME', { ...fields, entries, taken }, why);
      DeviceRegistry.problem(router.registry.known(family, r.to, this.o.clock.now()), why);
      return;
    }
    // What its actuators reported is the same device's: its new name's (router.use keeps the states of the devices the map names).
    router.actuatorStates.rename(family, r.from, r.to);
    router.use(renamedMap(map, family, r.from, r.to));
    router.registry.rename(family, r.from, r.to);
    this.count('followed');
    log.info({ ...fields, entries }, `Zigbee2MQTT renamed ${from} to ${to}: the device map follows (${entries.join(', ')} now name ${to}; commands go to its new name)`);
    this.save(r.to, entries, fields);
  }

  /** Resolves once the file edits asked so far are done. */
  settled(): Promise<void> {
    return this.saving;
  }

  private save(name: string, entries: readonly string[], fields: { readonly from: string; readonly to: string }): void {
    const { file, loader, log, router } = this.o;
    const { from, to } = fields;
    this.queued++;
    this.saving = this.saving.then(async () => {
      try {
        // False: the file does not name the old name (another node sharing it wrote it, or it was edited): read as it is.
        if (await renameNative(file, from, to)) log.info({ ...fields, file }, `device map written: ${entries.join(', ')} name ${to}`);
        // Read back once the last rename asked is written: the file between two renames is behind the map in force.
        if (this.queued === 1) await loader.reload();
      } catch (err) {
        this.count('unsaved');
        const why = `the rename of ${from} to ${to} is followed until the gateway restarts or the map is reloaded, but ${file} could not be written (${(err as Error).message}): edit it so that ${entries.join(', ')} name ${to}`;
        logError(log, 'GW_ERR_DEVICE_RENAME', { ...fields, file, err: (err as Error).message }, why);
        DeviceRegistry.problem(router.registry.known('zigbee2mqtt', name, this.o.clock.now()), why);
      } finally {
        this.queued--;
      }
    });
  }

  private count(result: 'followed' | 'not_in_map' | 'conflict' | 'unsaved'): void {
    this.o.metrics.deviceRenames.inc({ family: 'zigbee2mqtt', result });
  }
}
