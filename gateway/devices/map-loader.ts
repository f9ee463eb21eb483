import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, relative } from 'node:path';
import type { Logger } from 'pino';
import { logError } from '../core/errors.js';
import { defineKinds, releaseKinds } from '../core/kinds.js';
import { hvacSwitchHint, switchByMap } from './actuator-kind.js';
import { DeviceMapError, EMPTY_MAP, parseDeviceMap, type DeviceMap } from './map.js';

export interface DeviceMapLoaderOptions {
  /** DEVICES_FILE */
  readonly file: string;
  readonly log: Logger;
  /** Called with the map in force after a load that changed it. */
  readonly onChange: (map: DeviceMap) => void;
  readonly debounceMs?: number;
  readonly watch?: boolean;
}

/**
 * Loads the device map and reloads it when the file changes, as rule packs are. A missing file
 * is an empty map (every native device waits for a zone); a broken one is rejected with the
 * file, the entry and the problem (GW_ERR_DEVICE_MAP), and the map in force stays. The kinds it
 * adds are put in force with it (core/kinds.ts), or the whole file is refused.
 */
export class DeviceMapLoader {
  private current: DeviceMap = EMPTY_MAP;
  private text: string | undefined;
  private error: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly o: DeviceMapLoaderOptions) {}

  get map(): DeviceMap {
    return this.current;
  }

  /** Why the file was last rejected, if it was. */
  get problem(): string | undefined {
    return this.error;
  }

  async start(): Promise<void> {
    await this.reload();
    if (this.o.watch === false) return;
    // The directory, not the file: editors replace files, and a file made later must be seen.
    const name = basename(this.o.file);
    try {
      this.watcher = watch(dirname(this.o.file), (_event, changed) => {
        if (changed === null || changed === name) this.schedule();
      });
      this.watcher.on('error', (err) => this.o.log.warn({ err, file: this.o.file }, 'stopped watching the device map'));
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, file: this.o.file }, 'cannot watch the device map; it will not reload on change');
    }
  }

  stop(): Promise<void> {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    releaseKinds(this);
    return this.reloading;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), this.o.debounceMs ?? 100);
  }

  /** Reads the file again; resolves once the map in force is updated (or the file rejected). */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.load());
    return this.reloading;
  }

  private async load(): Promise<void> {
    const { file, log } = this.o;
    const shown = relative(process.cwd(), file) || file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.reject(shown, new DeviceMapError(shown, [`cannot be read: ${(err as Error).message}`]));
        return;
      }
      text = '';
      if (this.text === undefined) log.info({ file: shown }, 'no device map: native devices wait for a zone (see devices.example.yaml)');
    }
    if (text === this.text && this.error === undefined) return;
    let map: DeviceMap;
    try {
      map = parseDeviceMap(shown, text);
      const problems = defineKinds(this, map.kinds);
      if (problems.length > 0) throw new DeviceMapError(shown, problems.map((p) => `kinds: ${p}`));
    } catch (err) {
      this.text = text;
      this.reject(shown, err instanceof DeviceMapError ? err : new DeviceMapError(shown, [(err as Error).message]));
      return;
    }
    this.text = text;
    this.error = undefined;
    this.current = map;
    log.info({ file: shown, devices: map.devices.size, actuators: map.actuators.size, kinds: map.kinds.map((k) => k.name), mappings: map.mappings.length }, 'device map loaded');
    for (const a of map.actuators.values()) {
      const hint = hvacSwitchHint(a, switchByMap(a) ? 'switch' : 'thermostat', a.drives);
      if (hint) log.warn({ file: shown, target: a.target, device: `${a.family}:${a.nativeId}`, hint }, `${a.target} is a plain switch: switched on for every mode but off`);
    }
    this.o.onChange(map);
  }

  private reject(shown: string, err: DeviceMapError): void {
    this.error = err.message.replace(/^GW_ERR_DEVICE_MAP: /, '');
    logError(this.o.log, 'GW_ERR_DEVICE_MAP', { file: shown, problems: err.problems, devicesKept: this.current.devices.size }, `device map rejected: ${this.error}; the map in force stays`);
  }
}
