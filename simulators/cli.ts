/**
 * npm run simulate -- --devices N --rate R --duration S [--scenario NAME] [--qos 0|1] [--url mqtt://…]
 * npm run simulate -- --family zigbee2mqtt|tasmota|shelly|esphome|homeassistant [--print-map] …
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { SCENARIOS, type Scenario } from './devices.js';
import { runSimulation } from './simulator.js';
import { stringify } from 'yaml';
import { NATIVE_FAMILIES, type NativeFamily } from './native-families.js';
import { fleetMap, runNativeSimulation, simulatedFleet } from './native.js';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number ≥ 0`);
    return n;
  };
}

/** "localhost:1883" parses as a URL with the scheme "localhost:": say what is wanted instead of failing to connect later. */
function mqttUrl(v: string): string {
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  if (!url || !['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:'].includes(url.protocol) || !url.hostname) throw new InvalidArgumentError(`must be a URL such as mqtt://127.0.0.1:1883 (mqtt, mqtts, ws or wss)`);
  return v;
}

const program = new Command()
  .name('npm run simulate --')
  .description('Simulated devices publishing realistic readings to the gateway over MQTT.')
  .option('--devices <n>', 'devices to simulate (one MQTT connection each)', positiveInt('--devices'), 20)
  .option('--rate <r>', 'readings per second across all devices (0 = as fast as possible)', positiveInt('--rate'), 50)
  .option('--duration <s>', 'seconds to run', positiveInt('--duration'), 10)
  .option('--count <n>', 'send exactly this many readings instead of running for --duration', positiveInt('--count'))
  .addOption(new Option('--scenario <name>', 'what happens in the building').choices(SCENARIOS).default('normal'))
  .addOption(new Option('--qos <q>', 'MQTT QoS of readings').choices(['0', '1']).default('1'))
  .option('--url <url>', 'gateway MQTT URL', mqttUrl, process.env['MQTT_URL'] ?? `mqtt://127.0.0.1:${process.env['MQTT_PORT'] ?? 1883}`)
  .option('--seed <n>', 'random seed (same seed, same readings)', positiveInt('--seed'), 1)
  .option('--sites <n>', 'sites the devices are spread over', positiveInt('--sites'))
  .option('--zones <n>', 'zones per site', positiveInt('--zones'))
  .option('--prefix <p>', 'device id prefix', 'sim')
  .option('--run-id <token>', 'token in every reading id (<device>-<token>-<seq>); default: the start time, so each run sends new ids (give one to repeat a --seed run exactly)')
  .option('--username <u>', 'MQTT username for every device')
  .option('--password <p>', 'MQTT password for every device')
  .option('--password-file <path>', 'read the MQTT password from this file (e.g. DATA_DIR/initial-secrets/<name>)')
  .option('--no-ts', 'leave ts out of the readings (the gateway stamps them on arrival)')
  .option('--no-restore', 'leave the building as the scenario left it (the intrusion zone armed, the fire zone smoky)')
  .option('--drain-timeout <s>', 'at the end, wait at most this many seconds for outstanding acknowledgements (the run ends as soon as every reading is acknowledged or failed)', positiveInt('--drain-timeout'), 30)
  .option('--json', 'print the summary as JSON only')
  .addOption(new Option('--family <family>', 'simulate native firmware instead of the contract: what it publishes, and its answers to native commands').choices(NATIVE_FAMILIES))
  .option('--print-map', 'with --family: print the device map (devices.yaml) that places the simulated devices, and exit')
  .addHelpText(
    'after',
    [
      '',
      'Scenarios (each adds to site1/z1 the devices it needs there, whatever --devices, and undoes what it changed when it ends unless --no-restore):',
      '  normal     a working day: temperature drifting with the hour, occupancy by the hour, doors and motion in bursts',
      '  heatwave   temperatures climb 1.5 °C a minute, up to +9 °C after 6 minutes: HVAC cools zone by zone',
      '  intrusion  site1/z1 is armed and sees doors and motion: alerts; disarmed at the end',
      '  fire       smoke and fast-rising heat in site1/z1: critical alerts, HVAC off on the site; smoke clear at the end',
      'At the end every device says offline (retained) on devices/<id>/status; with --family, as its firmware does when it goes away:',
      '  Zigbee2MQTT zigbee2mqtt/<device>/availability and zigbee2mqtt/bridge/state {"state":"offline"}, Tasmota tele/<topic>/LWT Offline,',
      '  Shelly shellies/<id>/online (Gen1) or <prefix>/online (Gen2+) false, ESPHome <node>/status offline, Home Assistant devices their availability topic offline.',
      'A progress line (a bar on a terminal) is printed while it runs: sent, acknowledged, failed, rate, seconds (with --family: messages sent).',
    ].join('\n'),
  );

program.parse();
const opts = program.opts<{
  devices: number;
  rate: number;
  duration: number;
  count?: number;
  scenario: Scenario;
  qos: '0' | '1';
  url: string;
  seed: number;
  sites?: number;
  zones?: number;
  prefix: string;
  runId?: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  json?: boolean;
  drainTimeout: number;
  ts: boolean;
  restore: boolean;
  family?: NativeFamily;
  printMap?: boolean;
}>();

if (opts.passwordFile) opts.password = readFileSync(opts.passwordFile, 'utf8').trim();
// An empty TZ (compose passes `${TZ:-}` through) means "the system's": the hours of a simulated day are local.
if (process.env['TZ'] === '') delete process.env['TZ'];

const interactive = process.stderr.isTTY && !opts.json;
const bar = new SingleBar({
  format: ' {bar} {percentage}% | sent {sent} | acked {acknowledged} | failed {failed} | {rate}/s | {elapsed}s',
  hideCursor: true,
  noTTYOutput: false,
  stream: process.stderr,
});
const total = opts.count ?? (opts.rate > 0 ? opts.rate * opts.duration : 0);
let barStarted = false;
let lastLine = 0;

/** A progress bar on a terminal, else a line a second; `done` counts toward the total (readings, or native reports). */
function show(p: { done: number; sent: number; acknowledged: number; failed: number; elapsedMs: number }): void {
  const payload = {
    sent: p.sent,
    acknowledged: p.acknowledged,
    failed: p.failed,
    rate: p.elapsedMs > 0 ? Math.round((p.acknowledged * 1000) / p.elapsedMs) : 0,
    elapsed: (p.elapsedMs / 1000).toFixed(1),
  };
  if (interactive && total > 0) {
    if (!barStarted) {
      bar.start(total, 0, payload);
      barStarted = true;
    }
    bar.update(p.done, payload);
  } else if (!opts.json && p.elapsedMs - lastLine >= 1000) {
    lastLine = p.elapsedMs;
    process.stderr.write(`sent ${payload.sent}, acked ${payload.acknowledged}, failed ${payload.failed}, ${payload.rate}/s, ${payload.elapsed}s\n`);
  }
}

if (opts.family) {
  if (opts.printMap) {
    process.stdout.write(stringify(fleetMap(opts.family, simulatedFleet(opts.family, opts.devices, opts.prefix))));
    process.exit(0);
  }
  const controller = new AbortController();
  process.on('SIGINT', () => controller.abort()); // on, not once: npm forwards a terminal's Ctrl-C again, and a second SIGINT's default would kill it before its summary
  try {
    const s = await runNativeSimulation({
      url: opts.url,
      family: opts.family,
      devices: opts.devices,
      rate: opts.rate,
      duration: opts.duration,
      count: opts.count,
      qos: opts.qos === '0' ? 0 : 1,
      seed: opts.seed,
      prefix: opts.prefix,
      // With a credential, each connection is `<name>:<firmware's id>`: only bridge and native credentials pick their own ids (README, Who may talk).
      clientOptions: (c) => (opts.username ? { username: opts.username, password: opts.password ?? '', clientId: `${opts.username}:${c.clientId}` } : {}),
      onAnswer: (topic, answer) => void (opts.json ? undefined : process.stderr.write(`answered ${topic} with ${answer.map((m) => m.topic).join(', ')}\n`)),
      // Sent and acknowledged count messages (a report may be several); the bar counts reports.
      onProgress: (p) => show({ done: p.reports, sent: p.messages, acknowledged: p.acknowledged, failed: p.failed, elapsedMs: p.elapsedMs }),
      drainTimeoutMs: opts.drainTimeout * 1000,
      signal: controller.signal,
    });
    if (barStarted) bar.stop();
    process.stdout.write(
      opts.json
        ? `${JSON.stringify(s)}\n`
        : `\n${s.devices} ${s.family} devices: ${s.reports} reports, ${s.messages} messages (${s.acknowledged} acknowledged, ${s.failed} failed, ${s.unacknowledged} unacknowledged), ${s.commandsAnswered} native commands answered, in ${(s.elapsedMs / 1000).toFixed(1)} s\n`,
    );
    warnUnacknowledged(s.unacknowledged, s.messages, 'messages');
    process.exit(s.failed > 0 || s.unacknowledged > 0 ? 2 : 0);
  } catch (err) {
    if (barStarted) bar.stop();
    process.stderr.write(`simulate: ${(err as Error).message} (${hint(err as Error & { code?: unknown })})\n`);
    process.exit(1);
  }
}

const controller = new AbortController();
process.on('SIGINT', () => controller.abort()); // on, not once: npm forwards a terminal's Ctrl-C again, and a second SIGINT's default would kill it before its summary

try {
  const summary = await runSimulation({
    url: opts.url,
    devices: opts.devices,
    rate: opts.rate,
    duration: opts.duration,
    count: opts.count,
    scenario: opts.scenario,
    qos: opts.qos === '0' ? 0 : 1,
    seed: opts.seed,
    sites: opts.sites,
    zonesPerSite: opts.zones,
    prefix: opts.prefix,
    runId: opts.runId,
    withTs: opts.ts,
    restore: opts.restore,
    // With a credential, each simulated device connects as `<name>:<device>`: a credential's own client ids (README, Who may talk).
    clientOptions: (d) => (opts.username ? { username: opts.username, password: opts.password ?? '', clientId: `${opts.username}:${d.id}` } : {}),
    onProgress: (p) => show({ ...p, done: p.sent }),
    drainTimeoutMs: opts.drainTimeout * 1000,
    signal: controller.signal,
  });
  if (barStarted) bar.stop();
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const added = summary.added.length > 0 ? ` (${summary.added.length} added to site1/z1 for the ${summary.scenario} scenario: ${summary.added.join(', ')})` : '';
    const restored = summary.restored.length > 0 ? `restored: ${summary.restored.join('; ')} (--no-restore to keep it)\n` : '';
    process.stdout.write(
      `\n${summary.devices} devices${added}, scenario ${summary.scenario}, QoS ${summary.qos}\n` +
        `sent ${summary.sent}, acknowledged ${summary.acknowledged}, failed ${summary.failed}, unacknowledged ${summary.unacknowledged}, ` +
        `${summary.rate.toFixed(0)} readings/s over ${(summary.elapsedMs / 1000).toFixed(1)} s\n` +
        restored,
    );
  }
  warnUnacknowledged(summary.unacknowledged, summary.sent, 'readings');
  process.exit(summary.failed > 0 || summary.unacknowledged > 0 ? 2 : 0);
} catch (err) {
  if (barStarted) bar.stop();
  process.stderr.write(`simulate: ${(err as Error).message} (${hint(err as Error & { code?: unknown })})\n`);
  process.exit(1);
}

/** Readings whose fate is unknown are not "failed", nor to be passed over: one line on stderr. */
function warnUnacknowledged(unacknowledged: number, sent: number, what: string): void {
  if (unacknowledged === 0) return;
  process.stderr.write(
    `simulate: warning: ${unacknowledged} of ${sent} ${what} were never acknowledged ` +
      `(in flight or queued when the run ended: the gateway went away or stopped answering); they may not have been kept\n`,
  );
}

/** What to do about a failed connection: a refused login is about credentials, not about whether the gateway runs. */
function hint(err: Error & { code?: unknown }): string {
  const add = 'npm run credentials -- add <name> --role admin prints one';
  // CONNACK 4 (bad user name or password) and 5 (not authorised), as MQTT.js reports them.
  if (err.code === 4 || /bad user ?name or password/i.test(err.message)) {
    return opts.username ? `the gateway refused --username ${opts.username} with that --password: check both (${add})` : `the gateway wants credentials: pass an admin credential with --username <name> --password <secret> (${add})`;
  }
  if (err.code === 5 || /not authori[sz]ed/i.test(err.message)) {
    return opts.username
      ? `the gateway refused --username ${opts.username}: simulated devices publish for many devices, so the credential needs the admin role (${add})`
      : `the gateway has credentials, so it refuses anonymous clients: pass an admin credential with --username <name> --password <secret> (${add})`;
  }
  // CONNACK 2: the client id is not one this credential may use, or another credential holds it; the gateway's log says which.
  if (err.code === 2 || /identifier rejected/i.test(err.message)) {
    if (!opts.username) return `the gateway refused the client ids the simulator uses: a credential reserves them, or another client holds them (its log says which: client_id_mismatch or client_id_taken); pass an admin credential with --username <name> --password <secret> (${add})`;
    return (
      `the gateway refused the client ids the simulator uses for --username ${opts.username} (${opts.username}:<device>; its log says why: client_id_mismatch or client_id_taken): ` +
      `an admin credential may use them, but a device credential may only connect as its own device, so simulated devices need an admin credential (${add})`
    );
  }
  return `is the gateway running at ${opts.url}? start it with npm start`;
}
