/**
 * npm run devices -- list
 * npm run devices -- assign <family>:<id> --site S --zone Z [--device D] [--channel C] [--redrive]
 * npm run devices -- unassign <family>:<id>
 *
 * Edits the device map (DEVICES_FILE, default devices.yaml), keeping its comments; the running
 * gateway reloads it on change. `list` shows the map and, from the running gateway, the devices
 * waiting for a zone. `--redrive` then turns the device's kept dead letters (reason
 * unassigned_device) into readings at their original times, exactly once.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { nearestName } from '../core/edit-distance.js';
import { SEGMENT_HINT, isSegment } from '../core/segments.js';
import { assignDevice, unassignDevice } from '../devices/map-edit.js';
import { hvacSwitchHint, switchByMap } from '../devices/actuator-kind.js';
import { parseDeviceMap, type ActuatorForm } from '../devices/map.js';
import type { DeviceView } from '../devices/registry.js';
import { DEFAULT_URL, GatewayRefused, describeRedrive, getDevices, redrive, timeArg } from './gateway-api.js';
import { err, out, printable } from './terminal.js';

function segment(name: string) {
  return (v: string): string => {
    if (!isSegment(v)) throw new InvalidArgumentError(`${name} must match ${SEGMENT_HINT}`);
    return v;
  };
}

const program = new Command()
  .name('npm run devices --')
  .description('The device map: which native device (Zigbee2MQTT, Tasmota, Shelly, ESPHome, Home Assistant discovery) sits where.')
  .option('--file <path>', 'the device map', process.env['DEVICES_FILE'] ?? 'devices.yaml')
  .option('--url <url>', 'the running gateway’s HTTP address', DEFAULT_URL);

const file = (): string => resolve(program.opts<{ file: string }>().file);
const url = (): string => program.opts<{ url: string }>().url;

program
  .command('list')
  .description('the devices in the map, and those the gateway has seen that wait for a zone')
  .option('--json', 'print as JSON')
  .action(async (o: { json?: boolean }) => {
    const text = await readFile(file(), 'utf8').catch(() => '');
    const map = parseDeviceMap(file(), text);
    let seen: (DeviceView & { heardBy?: string[] })[] | undefined;
    let unanswered: string[] = [];
    let unreachable: string | undefined;
    // What the running gateway says each actuator is (the map's as:, else what its device told).
    let forms = new Map<string, ActuatorForm>();
    try {
      // Every page: all devices for --json, else only those waiting, each kept to what a line shows (a fleet's samples are megabytes).
      const answer = await getDevices(url(), (d) => (o.json ? d : { ...d, sample: undefined, discovery: undefined, actuators: {}, problems: [] }), { unassigned: !o.json });
      seen = answer.devices;
      unanswered = answer.first.unanswered ?? [];
      forms = new Map((answer.first.actuators ?? []).map((a) => [a.target, a.form]));
    } catch (e) {
      unreachable = (e as Error).message;
      // A refused credential is a mistake to fix, not a gateway that is not running: the map is listed, the exit says it.
      if (e instanceof GatewayRefused) process.exitCode = 1;
    }
    if (o.json) return out(JSON.stringify({ file: file(), devices: Object.fromEntries(map.devices), actuators: Object.fromEntries(map.actuators), seen: seen ?? null }));
    out(`${file()}: ${map.devices.size} devices, ${map.actuators.size} actuators${map.kinds.length ? `, kinds ${map.kinds.map((k) => k.name).join(', ')}` : ''}`);
    // One line each: names and keys are what devices (and their bridges) called themselves (terminal.ts).
    for (const d of map.devices.values()) out(printable(`  ${printable(d.key).padEnd(40)} ${d.placements.map((p) => `${p.site}/${p.zone}/${p.device}${p.channel ? ` (channel ${p.channel})` : ''}`).join(', ')}`));
    for (const a of map.actuators.values()) {
      out(printable(`  ${a.target.padEnd(40)} ← ${a.family}:${a.nativeId}${a.channel ? ` channel ${a.channel}` : ''}${a.drives ? ` as ${a.drives}` : a.as ? ` as ${a.as}` : ''}`));
      const hint = hvacSwitchHint(a, forms.get(a.target) ?? (switchByMap(a) ? 'switch' : 'thermostat'), a.drives);
      if (hint) out(`    ! ${hint}`);
    }
    if (!seen) return err(`(devices seen: ${unreachable ?? ''})`);
    const waiting = seen.filter((d) => d.waiting);
    out(waiting.length === 0 ? 'no device waits for a zone' : `${waiting.length} waiting for a zone:`);
    for (const d of waiting) {
      const unmapped = Object.keys(d.unmappedKeys);
      const heard = d.heardBy?.length ? `; heard by node ${d.heardBy.join(', ')}` : '';
      out(printable(`  ${printable(d.key).padEnd(40)} last seen ${d.lastSeen}${d.online === null ? '' : d.online ? ', online' : ', offline'}; kinds ${d.kinds.join(', ') || '-'}${unmapped.length ? `; unmapped ${unmapped.slice(0, 8).join(', ')}` : ''}${heard}`));
    }
    // A cluster node lists every node's devices; one that did not answer in time is missing from the list.
    if (unanswered.length > 0) err(printable(`(no answer from cluster node ${unanswered.join(', ')}: the devices heard there are not listed)`));
  });

program
  .command('assign')
  .description('place a native device at a site and zone (and device name); the gateway picks it up at once')
  .argument('<device>', '<family>:<native id>, e.g. zigbee2mqtt:weather_sensor or tasmota:tasmota_A1B2C3')
  .requiredOption('--site <site>', 'site', segment('--site'))
  .requiredOption('--zone <zone>', 'zone', segment('--zone'))
  .option('--device <name>', 'device name (default: the native id made a valid segment)', segment('--device'))
  .option('--channel <channel>', 'only this channel of the device (a Tasmota driver block, a Shelly component, an ESPHome object id)')
  .option('--redrive', 'then turn its kept dead letters (unassigned_device) into readings at their original times')
  .option('--since <time>', 'with --redrive: dead letters kept since (default: all)', timeArg)
  .action(async (key: string, o: { site: string; zone: string; device?: string; channel?: string; redrive?: boolean; since?: number }) => {
    const map = await assignDevice(file(), key, { site: o.site, zone: o.zone, ...(o.device ? { device: o.device } : {}), ...(o.channel ? { channel: o.channel } : {}) });
    const placed = map.devices.get(key)?.placements[0];
    out(`${key} → ${placed ? `${placed.site}/${placed.zone}/${placed.device}` : '?'} in ${file()}`);
    await warnIfUnheard(key);
    if (!o.redrive) return;
    const summary = (await redrive(url(), { reason: 'unassigned_device', since: o.since ?? 0, device: key })) as Parameters<typeof describeRedrive>[0];
    out(describeRedrive(summary));
  });

/**
 * A key the running gateway never heard is written all the same (a device may not have spoken
 * yet), but said, with the nearest heard one: `weather_sensr` places nothing. Unsaid when no gateway answers.
 */
async function warnIfUnheard(key: string): Promise<void> {
  let heard: string[];
  try {
    heard = (await getDevices(url(), (d) => d.key)).devices;
  } catch (e) {
    // A refused credential is said (and the exit says it), as for list; no gateway at all is not a mistake here.
    if (e instanceof GatewayRefused) {
      err(`(not checked whether the gateway has heard ${key}: ${e.message})`);
      process.exitCode = 1;
    }
    return;
  }
  if (heard.includes(key)) return;
  const near = nearestName(key, heard);
  err(printable(`warning: the gateway at ${url()} has not heard ${key} (yet)${near ? `; did you mean ${near}?` : ''} (npm run devices -- list shows the devices waiting for a zone)`));
}

program
  .command('unassign')
  .description('take a native device out of the map: it waits for a zone again')
  .argument('<device>', '<family>:<native id>')
  .action(async (key: string) => {
    if (!(await unassignDevice(file(), key))) {
      err(`${key} is not in ${file()}`);
      process.exitCode = 1;
      return;
    }
    out(`${key} taken out of ${file()}: it waits for a zone`);
  });

program.parseAsync().catch((e: unknown) => {
  err(`devices: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
