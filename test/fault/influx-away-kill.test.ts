/**
 * The rules' local snapshot (DATA_DIR/rules-state.json) survives a `kill -9`, not only a clean
 * stop: a real gateway process and a real influxd of the test's own; a smoke alarm raised and a
 * command left waiting for its confirmation (an actuator that ignores commands); once the file
 * holds both (polled, no sleep), influxd stops and the gateway is killed with SIGKILL, then
 * started again on the same DATA_DIR with influxd still down. The alarm is still listed and the
 * command still waits.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startInfluxd } from '../../gateway/storage/influxd.js';
import { simulateActuator } from '../../simulators/actuators.js';
import { useCleanup } from '../helpers/cleanup.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { spawnGateway } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

interface AlarmJson {
  readonly id: string;
  readonly rule: string;
}
interface ActuatorJson {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly data?: Record<string, unknown>;
  readonly status: string;
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('a gateway killed with SIGKILL while InfluxDB is away', () => {
  it('starts again from the local snapshot written while it ran: the alarm is listed, the command still waits', { timeout: 120_000 }, async () => {
    const dataDir = await tempDir('gw-away-kill-');
    const influx = await startInfluxd({ dataDir: await tempDir('gw-away-kill-influx-') });
    defer(() => influx.stop());
    const env = { DATA_DIR: dataDir, INFLUX_URL: influx.url, INFLUX_DB: uniqueDb(), INFLUX_TIMEOUT_MS: '2000', RULES_DIR: 'rules', MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', STATS_INTERVAL_MS: '0' };
    const first = track(spawnGateway(env));
    const ports = await first.started();
    const url = `mqtt://127.0.0.1:${ports.mqtt}`;

    const ignoring = await simulateActuator({ url, site: 'hq', zone: 'f1', actuator: 'hvac', behaviour: { kind: 'ignore' } });
    defer(() => ignoring.stop());
    const sensor = await connect(url, { clientId: 'away-kill-sensor' });
    defer(() => sensor.endAsync());
    await sensor.publishAsync('sensors/hq/f1/t1/temperature', JSON.stringify({ value: 31 }), { qos: 1 });
    const command = (await ignoring.nextCommand()).id;
    await sensor.publishAsync('sensors/lab/x1/smk-1/smoke', JSON.stringify({ value: true }), { qos: 1 });
    const http = `http://127.0.0.1:${ports.http}`;
    const alarms = async (): Promise<AlarmJson[]> => ((await (await fetch(`${http}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms;
    const smoke = (await waitFor(async () => (await alarms()).find((a) => a.rule === 'smoke-alarm'), 'the smoke alarm')).id;
    await waitFor(async () => {
      const text = await readFile(join(dataDir, 'rules-state.json'), 'utf8').catch(() => '');
      return text.includes(command) && text.includes(smoke);
    }, 'the alarm and the waiting command in DATA_DIR/rules-state.json', 30_000);

    await influx.stop();
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    const second = track(spawnGateway(env));
    const again = `http://127.0.0.1:${(await second.started()).http}`;
    const listed = ((await (await fetch(`${again}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms;
    expect(listed).toEqual([expect.objectContaining({ id: smoke, rule: 'smoke-alarm' })]);
    const actuators = ((await (await fetch(`${again}/api/actuators`)).json()) as { actuators: ActuatorJson[] }).actuators;
    expect(actuators.find((a) => a.site === 'hq' && a.zone === 'f1' && a.actuator === 'hvac')).toMatchObject({ status: 'pending', data: { mode: 'cool', setpoint: 22 } });
    expect(second.logs.some((l) => /local snapshot/.test(l.msg))).toBe(true);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
