/**
 * A whole-house power cut: the gateway's machine dies with the plugs and relays (no last will is
 * published: the broker is the gateway), so nothing ever says the devices went offline. Power back,
 * the devices boot in their power-on state (off) and connect to the restarted gateway. When its
 * host had just booted and its last run did not stop (its DATA_DIR lock left behind), a heater
 * the rules had on is put back on, as after any power cut; on a host up for long (the gateway
 * alone was killed) the same report is a change by hand, as before.
 *
 * Real parts: the gateway as a process (`gateway/main.ts`) killed with SIGKILL and started again on
 * the same DATA_DIR, InfluxDB and MQTT port; real MQTT clients acting as an ESPHome node
 * (`<node>/status` with its will, `<node>/switch/<id>/state`, `…/command`) and a Zigbee2MQTT bridge
 * (`zigbee2mqtt/bridge/state`, `zigbee2mqtt/<device>`, `…/set`). "The host just booted" is the
 * setting POWER_CUT_BOOT_MS: set above the machine's uptime, it did; set to 1 ms, it did not.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, uptime } from 'node:os';
import { join, resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { restartablePort } from '../helpers/restartable-port.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-power');
const MAP = {
  actuators: {
    'hq/e1/heater': { device: 'esphome:e1-node', channel: 'relay', as: 'switch' },
    'hq/z1/heater': { device: 'zigbee2mqtt:z1_plug', as: 'switch' },
  },
};
const ZONES = ['e1', 'z1'] as const;
type Zone = (typeof ZONES)[number];
const TURN_ON: Record<Zone, string> = { e1: 'e1-node/switch/relay/command ON', z1: 'zigbee2mqtt/z1_plug/set {"state":"ON"}' };

interface Devices {
  /** Every native command the firmwares received, `<topic> <payload>`. */
  readonly received: string[];
  readonly clients: MqttClient[];
}

/**
 * The devices booting (power on: off), connecting to the gateway and saying so as their firmwares
 * do; they answer commands. `cached`: Zigbee2MQTT starting publishes each device's cached state
 * first (cache_state_send_on_startup, on by default), what the plug said before the cut.
 */
async function boot(url: string, received: string[], cached?: string): Promise<Devices> {
  const esphome = await connect(url, { clientId: 'e1-node', will: { topic: 'e1-node/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
  const bridge = await connect(url, { clientId: 'zigbee2mqtt_1a2b3c', will: { topic: 'zigbee2mqtt/bridge/state', payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true } });
  esphome.on('message', (topic, payload) => {
    received.push(`${topic} ${payload.toString()}`);
    // ESPHome publishes a switch's state (retained) once it changed.
    if (payload.toString() === 'ON') void esphome.publishAsync('e1-node/switch/relay/state', 'ON', { qos: 1, retain: true });
  });
  bridge.on('message', (topic, payload) => {
    received.push(`${topic} ${payload.toString()}`);
    const { state } = JSON.parse(payload.toString()) as { state?: string };
    if (state === 'ON') void bridge.publishAsync('zigbee2mqtt/z1_plug', JSON.stringify({ state: 'ON', power: 1800, linkquality: 120 }), { qos: 1 });
  });
  await esphome.subscribeAsync('e1-node/switch/relay/command', { qos: 1 });
  await esphome.publishAsync('e1-node/status', 'online', { qos: 1, retain: true });
  await esphome.publishAsync('e1-node/switch/relay/state', 'OFF', { qos: 1, retain: true });
  await bridge.subscribeAsync('zigbee2mqtt/+/set', { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/bridge/state', '{"state":"online"}', { qos: 1, retain: true });
  if (cached !== undefined) await bridge.publishAsync('zigbee2mqtt/z1_plug', cached, { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/z1_plug', JSON.stringify({ state: 'OFF', power: 0, linkquality: 120 }), { qos: 1 });
  return { received, clients: [esphome, bridge] };
}

/** The power goes: the devices' connections drop without a word (as the gateway dies, nobody publishes their wills). */
function cut(devices: Devices): void {
  for (const c of devices.clients) c.stream.destroy();
}

interface Run {
  readonly influx: string;
  readonly db: string;
  readonly gateway: GatewayProcess;
  readonly devices: Devices;
  readonly alerts: { messages: Received[] };
}

async function run(env: Record<string, string> & { INFLUX_URL: string; INFLUX_DB: string }, cached?: string): Promise<Run> {
  const gateway = track(spawnGateway(env));
  const ports = await gateway.started();
  const url = `mqtt://127.0.0.1:${ports.mqtt}`;
  const watcher = await connect(url, { clientId: 'power-cut-watcher' });
  defer(() => watcher.endAsync());
  const alerts = await collect(watcher, 'alerts/hq/#');
  const devices = await boot(url, [], cached);
  defer(async () => cut(devices));
  return { influx: env.INFLUX_URL, db: env.INFLUX_DB, gateway, devices, alerts };
}

const overridden = (r: Run, zone: Zone): boolean => r.alerts.messages.some((m) => m.json<{ type: string; data: { zone: string } }>().type === 'actuator.manual-override' && m.json<{ data: { zone: string } }>().data.zone === zone);

/**
 * Heating on (confirmed, stored), then a whole-house power cut (SIGKILL, devices gone), then the
 * gateway started again on the same DATA_DIR with `bootMs` as POWER_CUT_BOOT_MS and the devices
 * booting off: what the restarted gateway did with each heater, once it did something.
 */
async function powerCut(bootMs: string): Promise<Run> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-power-cut-'));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const mapFile = join(dataDir, 'devices.yaml');
  await writeFile(mapFile, stringify(MAP));
  const influx = inject('influxUrl');
  const db = uniqueDb('power_cut');
  const port = await restartablePort();
  const env = { DATA_DIR: dataDir, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: RULES, DEVICES_FILE: mapFile, MQTT_PORT: String(port), MQTT_WS_PORT: '0', HTTP_PORT: '0', STATS_INTERVAL_MS: '0', POWER_CUT_BOOT_MS: bootMs };

  const first = await run(env);
  const sensor = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'power-cut-sensors' });
  for (const zone of ZONES) await sensor.publishAsync(`sensors/hq/${zone}/t1/temperature`, JSON.stringify({ value: 15, id: `${zone}-cold` }), { qos: 1 });
  await sensor.endAsync();
  await waitFor(() => ZONES.every((z) => first.devices.received.includes(TURN_ON[z])), 'both heaters switched on', 20_000);
  // Confirmed, and in InfluxDB: what the next start rebuilds the rules' last command from.
  await waitFor(async () => (await rows(influx, db, `SELECT "attempt", "status" FROM "command_status" WHERE "status" = 'confirmed'`)).length === 2, 'both commands confirmed in InfluxDB', 20_000);

  first.gateway.child.kill('SIGKILL');
  expect(await first.gateway.exited).toBeNull();
  cut(first.devices);

  const second = await run(env, JSON.stringify({ state: 'ON', power: 1800, linkquality: 120 }));
  await waitFor(() => ZONES.every((z) => second.devices.received.includes(TURN_ON[z]) || overridden(second, z)), 'each heater put back on or taken as changed by hand', 30_000);
  return second;
}

describe('a whole-house power cut: the gateway and its devices lose power together', () => {
  it('the host had just booted and the last run did not stop: the heaters that came back off are put back on, no manual override', { timeout: 120_000 }, async () => {
    const r = await powerCut(String(Math.ceil(uptime() * 1000) + 3_600_000));
    for (const zone of ZONES) {
      expect(overridden(r, zone), `${zone}: no manual_override`).toBe(false);
      expect(r.devices.received, zone).toContain(TURN_ON[zone]);
    }
    // Logged as any came-back, naming the host's power cut.
    const back = r.gateway.logs.filter((l) => l.msg.includes('came back reporting'));
    expect(back.map((l) => l['actuator'])).toEqual(['heater', 'heater']);
    for (const l of back) expect(String(l['why'])).toMatch(/power cut of the gateway's host/);
    expect(r.gateway.logs.some((l) => l.msg.startsWith("this start follows a power cut of the gateway's host"))).toBe(true);
    // The reports stored say so (a cluster's owner would rule them the same), and each command sent again is confirmed.
    const stored = await waitFor(async () => {
      const got = await rows(r.influx, r.db, `SELECT "state", "came_back", "zone" FROM "actuator_state" WHERE "came_back" =~ /power cut/`);
      return new Set(got.map((x) => x['zone'])).size === 2 ? got : undefined;
    }, 'the came-back reports in InfluxDB', 20_000);
    expect(stored.find((x) => x['state'] === '{"state":"off"}')?.['came_back']).toMatch(/^power cut of the gateway's host \(it booted \d+ s before this start; the last run did not stop\)$/);
    await waitFor(async () => (await rows(r.influx, r.db, `SELECT "attempt", "status" FROM "command_status" WHERE "status" = 'confirmed'`)).length === 4, 'the commands sent again confirmed', 20_000);
  });

  it('the host up for long (the gateway alone was killed): a heater reported off after the restart is a change by hand, as before', { timeout: 120_000 }, async () => {
    const r = await powerCut('1');
    for (const zone of ZONES) {
      expect(overridden(r, zone), `${zone}: manual_override`).toBe(true);
      expect(r.devices.received, zone).not.toContain(TURN_ON[zone]);
    }
    expect(r.gateway.logs.some((l) => l.msg.includes('came back reporting'))).toBe(false);
  });
});
