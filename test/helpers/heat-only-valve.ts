/**
 * A heat-only radiator valve (Danfoss Ally 014G2461: Zigbee2MQTT climate, system_mode heat only,
 * heating setpoint 5 to 35) behind a real MQTT client acting as its bridge, mapped as zone hq/v1's
 * hvac, on a real gateway with a manual clock: `bridge/devices` lists it with the exposes
 * zigbee-herdsman-converters gives it (the fixture's `living_trv`), and its `/set` is answered as
 * the valve does, by its state report once the value is one it takes.
 */
import type { MqttClient } from 'mqtt';
import type { CommandEvent } from '../../gateway/core/events.js';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { bridgeDevicesPayload } from '../fixtures/native/zigbee2mqtt-bridge-devices.js';
import { advanceRules, type TestGateway } from './gateway.js';
import { rows } from './influx.js';
import { connect } from './mqtt.js';
import { startWithMap } from './native.js';
import { count } from './ports.js';
import { waitFor } from './wait.js';

export const VALVE = 'living_trv';
const SET = `zigbee2mqtt/${VALVE}/set`;

/** The valve's state as Zigbee2MQTT publishes it (the Ally's own keys). */
export interface ValveState {
  local_temperature: number;
  occupied_heating_setpoint: number;
  system_mode: string;
  running_state: string;
  pi_heating_demand: number;
  battery: number;
  linkquality: number;
}

/** A bench started again where another stopped: its DATA_DIR, database, clock's time and valve. */
export interface ValveBenchFrom {
  readonly dataDir: string;
  readonly db?: string;
  readonly at?: number;
  readonly valve?: ValveState;
}

export interface ValveBench {
  readonly gw: TestGateway & { mapFile: string };
  readonly clock: ManualClock;
  /**
   * The valve's state as Zigbee2MQTT publishes it (the Ally's own keys). Its local_temperature is a
   * reading of the zone too: kept between the rules' bands (18 to 19 °C) so that only the sensor's
   * readings command.
   */
  readonly valve: ValveState;
  /** The valve's reports the gateway took in so far. */
  reports(): number;
  report(): Promise<void>;
  /** A command from the rules for this sensor reading, its `/set` (returned), the valve's report, and the saga's end. */
  command(reading: number): Promise<{ command: CommandEvent; set: string }>;
  /** The command statuses stored for the valve, in order. */
  statuses(): Promise<string[]>;
  /** The saga's whole time (the confirmation time, then twice and four times it). */
  pastTheSaga(): Promise<void>;
  stop(): Promise<void>;
}

/** `rulesDir`: cool above 26 °C, heat below 18 °C, off from 19 to 24 °C (rules-simple, or a variant). */
export async function startValveBench(rulesDir: string, from?: ValveBenchFrom): Promise<ValveBench> {
  const clock = new ManualClock(from?.at ?? Date.now());
  const gw = await startWithMap({ actuators: { 'hq/v1/hvac': `zigbee2mqtt:${VALVE}` } }, { clock, rulesDir, env: { STATS_INTERVAL_MS: '0' }, ...(from ? { dataDir: from.dataDir, db: from.db } : {}) });
  const valve: ValveState = from?.valve ?? { local_temperature: 18.5, occupied_heating_setpoint: 21, system_mode: 'heat', running_state: 'heat', pi_heating_demand: 60, battery: 87, linkquality: 120 };
  const commands: CommandEvent[] = [];
  const received: string[] = [];
  let reports = 0;
  let readingNo = 0;
  // Unique across the benches of one DATA_DIR: a reading id again with other content is a device's counter restarted.
  const idTag = Math.random().toString(36).slice(2, 8);
  gw.gateway.bus.on('actuatorState', (e) => void (e.zone === 'v1' && reports++));
  gw.gateway.bus.on('command', (c) => void (c.zone === 'v1' && commands.push(c)));
  const sensor: MqttClient = await connect(gw.mqttUrl, { clientId: 'trv-sensor' });
  const bridge: MqttClient = await connect(gw.mqttUrl, { clientId: 'trv-bridge' });
  const report = async (): Promise<void> => void (await bridge.publishAsync(`zigbee2mqtt/${VALVE}`, JSON.stringify(valve), { qos: 1 }));
  // The valve takes system_mode heat and a heating setpoint from 5 to 35 (its expose); anything else Zigbee2MQTT rejects, publishing nothing.
  const onSet = async (payload: string): Promise<void> => {
    received.push(payload);
    const body = JSON.parse(payload) as Record<string, unknown>;
    const mode = body['system_mode'];
    const setpoint = body['occupied_heating_setpoint'];
    if (mode !== undefined && mode !== 'heat') return;
    if (setpoint !== undefined && (typeof setpoint !== 'number' || setpoint < 5 || setpoint > 35)) return;
    if (typeof setpoint === 'number') valve.occupied_heating_setpoint = setpoint;
    valve.running_state = valve.occupied_heating_setpoint > valve.local_temperature ? 'heat' : 'idle';
    await report();
  };
  bridge.on('message', (topic, payload) => void (topic === SET && onSet(payload.toString())));
  await bridge.subscribeAsync(SET, { qos: 1 });
  // Any outcome: after a restart the bridge's devices are known again (relearnt), and its bridge/state is theirs too.
  const recognised = () => count(gw.gateway.metrics, 'gateway_native_messages_total', { family: 'zigbee2mqtt' });
  const before = await recognised();
  await bridge.publishAsync('zigbee2mqtt/bridge/state', JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
  await bridge.publishAsync('zigbee2mqtt/bridge/devices', bridgeDevicesPayload(), { qos: 1, retain: true });
  await waitFor(async () => (await recognised()) >= before + 2, 'bridge/devices taken in');
  // Heating, as at connection.
  await report();
  await waitFor(() => reports === 1, 'the valve’s state at connection');

  const statuses = async (): Promise<string[]> => (await rows(gw.influxUrl, gw.db, `SELECT "attempt", "status" FROM "command_status" WHERE "zone" = 'v1' AND "actuator" = 'hvac'`)).map((r) => String(r['status']));
  const pastTheSaga = async (): Promise<void> => {
    for (const ms of [10_000, 20_000, 40_000]) await advanceRules(gw, clock, ms);
  };
  return {
    gw,
    clock,
    valve,
    reports: () => reports,
    report,
    statuses,
    pastTheSaga,
    async command(reading) {
      const [n, sets, heard, steps] = [commands.length, received.length, reports, (await statuses()).length];
      await sensor.publishAsync('sensors/hq/v1/t-v1/temperature', JSON.stringify({ value: reading, id: `v1-${idTag}-${++readingNo}` }), { qos: 1 });
      await waitFor(() => commands.length > n, 'the rules’ command');
      await waitFor(() => received.length > sets, 'the valve’s /set');
      await waitFor(() => reports > heard, 'the valve’s report after it');
      await pastTheSaga();
      await waitFor(async () => (await statuses()).length >= steps + 2, 'the saga’s end');
      return { command: commands[n]!, set: received[sets]! };
    },
    async stop() {
      await bridge.endAsync();
      await sensor.endAsync();
      await gw.stop();
    },
  };
}
