/**
 * What a device sends reaches the operator's terminal as text, never as control sequences
 * (outside test: `printf '\x1b[2J\x1b]0;PWNED\x07{…' | mosquitto_pub …` made `npm run deadletters
 * -- list` clear the screen and set the window title; a reading id "\u001b[2Jx1" did the same in
 * `npm run trace`). C0 controls, DEL, C1 controls and bidi overrides are shown escaped; `--json`
 * stays JSON that parses back to exactly what was kept.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** What a terminal acts on rather than shows: C0 but the newline, DEL, C1, bidi embeddings, overrides and isolates. */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
/** Clears the screen, sets the window title, a C1 CSI, a right-to-left override. */
const HOSTILE = '\x1b[2J\x1b]0;PWNED\x07\u009b31m\u202e';
const PAYLOAD = `${HOSTILE}{"value":`;
const READING_ID = `\u001b[2Jx1\u202e\u009b`;
const FRIENDLY = 'evil\x1b]0;PWNED\x07';

let gw: TestGateway & { mapFile: string };
let device: MqttClient;
let z2m: MqttClient;

function cli(script: 'deadletters' | 'trace' | 'devices', ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, ['--import', 'tsx', `gateway/cli/${script}.ts`, ...args], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}
const influx = (): string[] => ['--influx', gw.influxUrl, '--db', gw.db];

beforeAll(async () => {
  gw = await startWithMap('# nothing placed yet\n');
  device = await connect(gw.mqttUrl, { clientId: 'hostile-1' });
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  await device.publishAsync('sensors/hq/f1/x/temperature', PAYLOAD, { qos: 1 });
  await device.publishAsync(`sensors/hq/f1/x${HOSTILE}/temperature`, '{"value":1}', { qos: 1 });
  await device.publishAsync('sensors/hq/f1/t-1/temperature', JSON.stringify({ value: 21, id: READING_ID }), { qos: 1 });
  await z2m.publishAsync(`zigbee2mqtt/${FRIENDLY}`, JSON.stringify({ temperature: 12, '\u202ehidden\u009b': 1 }), { qos: 1 });
  await waitFor(() => rows(gw.influxUrl, gw.db, 'SELECT payload FROM deadletters').then((x) => x.length === 3), 'the three dead letters in InfluxDB');
  await waitFor(() => rows(gw.influxUrl, gw.db, 'SELECT value FROM temperature').then((x) => x.length === 1), 'the reading in InfluxDB');
});
afterAll(async () => {
  await device?.endAsync();
  await z2m?.endAsync();
  await gw?.stop();
});

function expectSafe(text: string): void {
  const at = UNSAFE.exec(text);
  expect(at && JSON.stringify(text.slice(Math.max(0, at.index - 30), at.index + 30)), 'a control character reached the terminal').toBeNull();
}

describe('device-controlled text on the operator’s terminal', () => {
  it('npm run deadletters -- list shows payloads and topics with their control characters escaped, one line each', async () => {
    const { code, stdout } = await cli('deadletters', 'list', ...influx());
    expect(code).toBe(0);
    expectSafe(stdout);
    expect(stdout).toContain('\\x1b[2J\\x1b]0;PWNED\\x07');
    expect(stdout).toContain('\\u009b31m\\u202e');
    expect(stdout).toContain('zigbee2mqtt/evil\\x1b]0;PWNED\\x07');
    // A header, three letters, a blank line and the counts.
    expect(stdout.trim().split('\n')).toHaveLength(6);
  });

  it('npm run deadletters -- list --json is JSON that gives back the payload as kept, with nothing a terminal acts on', async () => {
    const { stdout } = await cli('deadletters', 'list', '--json', ...influx());
    expectSafe(stdout);
    const json = JSON.parse(stdout) as { letters: { payload: string; topic: string }[] };
    expect(json.letters.map((l) => l.payload)).toContain(PAYLOAD);
    expect(json.letters.map((l) => l.topic)).toContain(`sensors/hq/f1/x${HOSTILE}/temperature`);
  });

  it('npm run deadletters -- redrive --dry-run shows the same letters escaped', async () => {
    const { stdout } = await cli('deadletters', 'redrive', '--reason', 'invalid_json', '--since', '1h', '--dry-run', ...influx());
    expectSafe(stdout);
    expect(stdout).toContain('\\x1b[2J\\x1b]0;PWNED\\x07');
  });

  it('npm run trace shows a reading id with control characters escaped, from the gateway and from InfluxDB', async () => {
    const live = await cli('trace', READING_ID, '--url', gw.httpUrl);
    expect(live.code).toBe(0);
    expectSafe(live.stdout);
    expect(live.stdout.split('\n')[0]).toMatch(/^trace of \\x1b\[2Jx1\\u202e\\u009b \(from (memory|influxdb)\)$/);
    const stored = await cli('trace', READING_ID, '--url', 'http://127.0.0.1:9', ...influx());
    expect(stored.code).toBe(0);
    expectSafe(stored.stdout);
    expect(stored.stdout).toMatch(/reading\s+\\x1b\[2Jx1\\u202e\\u009b {2}hq\/f1\/t-1 temperature = 21/);
    const json = await cli('trace', READING_ID, '--url', gw.httpUrl, '--json');
    expectSafe(json.stdout);
    expect((JSON.parse(json.stdout) as { id: string }).id).toBe(READING_ID);
  });

  it('npm run devices -- list shows a waiting device’s name and keys escaped', async () => {
    const { code, stdout } = await cli('devices', 'list', '--url', gw.httpUrl);
    expect(code).toBe(0);
    expectSafe(stdout);
    expect(stdout).toContain('zigbee2mqtt:evil\\x1b]0;PWNED\\x07');
    expect(stdout).toContain('\\u202ehidden\\u009b');
    const json = await cli('devices', 'list', '--url', gw.httpUrl, '--json');
    expectSafe(json.stdout);
    expect((JSON.parse(json.stdout) as { seen: { key: string }[] }).seen.map((d) => d.key)).toContain(`zigbee2mqtt:${FRIENDLY}`);
  });
});
