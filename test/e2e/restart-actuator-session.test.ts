/**
 * An actuator with a persistent session across a restart of its (single) gateway: the session's
 * subscription comes back from the gateway's own persistence (DATA_DIR/mqtt-state.bin), so the
 * client, told `sessionPresent`, does not subscribe again (mqtt.js, mosquitto_sub -c). Its reports
 * are still its actuator's: they confirm its commands, and none is a dead letter.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { answering } from '../helpers/persistent-actuator.js';
import { waitFor } from '../helpers/wait.js';

const TARGET = 'hq/f7/hvac';
let dataDir: string;
const db = uniqueDb('restart_actuator');
let gw: TestGateway | undefined;

const start = async (): Promise<TestGateway> => (gw = await startGateway({ dataDir, db, env: { STATS_INTERVAL_MS: '0' } }));

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-actuator-'));
  const first = await start();
  const fan = await connect(first.mqttUrl, { clientId: 'fan-r7', clean: false });
  await fan.subscribeAsync(`commands/${TARGET}`, { qos: 1 });
  await fan.endAsync();
  await first.stop();
});

afterAll(async () => {
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('an actuator whose persistent session outlives a restart of its gateway', () => {
  it('is still known by its restored subscription: its report confirms the command, no unknown_actuator', { timeout: 60_000 }, async () => {
    const g = await start();
    const observer = await connect(g.mqttUrl, { clientId: 'observer-r7' });
    const dead = await collect(observer, 'gateway/deadletter');
    const fan = await answering(g.mqttUrl, 'fan-r7');
    expect(fan.sessionPresent).toBe(true);
    await observer.publishAsync('sensors/hq/f7/t7/temperature', JSON.stringify({ value: 31, id: 'r7-hot' }), { qos: 1 });
    await waitFor(() => fan.answered > 0, 'the command, answered by the fan');
    const confirmed = async () => {
      const { actuators } = (await (await fetch(`${g.httpUrl}/api/actuators`)).json()) as { actuators: { site: string; zone: string; actuator: string; status: string }[] };
      return actuators.find((a) => `${a.site}/${a.zone}/${a.actuator}` === TARGET)?.status === 'confirmed';
    };
    await waitFor(async () => (await confirmed()) || dead.messages.length > 0, 'the fan’s report taken, or dead-lettered');
    expect(dead.messages.map((m) => m.json<{ reason: string; detail: string }>())).toEqual([]);
    expect(await confirmed()).toBe(true);
    await fan.client.endAsync();
    await observer.endAsync();
  });
});
