/**
 * A command decided just before a clean stop reaches an actuator that is away, after the restart.
 * A reviewer found the broker stopped before the rules: Aedes closed and wrote its last snapshot
 * (DATA_DIR/mqtt-state.bin) while a command still waited for the spool's commit (commands go out
 * only once on disk, rules/outputs.ts); it was then published to a closed broker ("could not
 * publish"), neither delivered nor queued for the away (clean=false) actuator, though the spool
 * recorded it as commanded. An actuator that never reported is never resent it: it was lost.
 *
 * Here the spool's disk holds the command's write while the gateway stops, then lets it go; the
 * restarted gateway must hand the queued command to the actuator when it comes back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { expect, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { deferred } from '../../helpers/deferred.js';
import { startGateway } from '../../helpers/gateway.js';
import { connect } from '../../helpers/mqtt.js';
import { hookedDisk } from '../../helpers/spool-disk.js';
import { waitFor } from '../../helpers/wait.js';

const { defer } = useCleanup();

it('a command waiting for the disk at a stop is queued for the away actuator and kept across the restart', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-stop-queued-'));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const gate = { hold: false, open: deferred(), held: 0 };
  defer(async () => gate.open.resolve());
  const disk = hookedDisk(async (call) => {
    if (call !== 'writing.writev' || !gate.hold) return;
    gate.held++;
    await gate.open.promise;
  });
  const gw = await startGateway({ dataDir, spoolDisk: disk, env: { STATS_INTERVAL_MS: '0' } });
  defer(() => gw.stop());
  // The actuator subscribes with a persistent session, then goes away.
  const act = mqtt.connect(`mqtt://127.0.0.1:${gw.running.ports.mqtt}`, { clientId: 'act-q7', clean: false, reconnectPeriod: 0 });
  await new Promise((r) => act.once('connect', r));
  await act.subscribeAsync('commands/lab3/k7/hvac', { qos: 1 });
  await act.endAsync();

  gate.hold = true;
  const device = await connect(gw.mqttUrl, { clientId: 'dev-k7' });
  await device.publishAsync('sensors/lab3/k7/t1/temperature', JSON.stringify({ value: 31, id: 'hot-k7' }), { qos: 0 });
  await waitFor(() => gw.gateway.rules.runtime.dispatcher.current('lab3/k7/hvac'), 'the HVAC commanded');
  await waitFor(() => gate.held > 0, 'the command held by the disk');
  device.end(true);
  const stopping = gw.stop();
  // A window for the stop to get as far as it can while the command waits (the old code closed the broker in it).
  await new Promise((r) => setTimeout(r, 500));
  gate.hold = false;
  gate.open.resolve();
  await stopping;
  expect(gw.logs.filter((l) => l['msg'] === 'could not publish')).toEqual([]);

  const gw2 = await startGateway({ dataDir, env: { STATS_INTERVAL_MS: '0' } });
  defer(() => gw2.stop());
  const messages: { topic: string; type: unknown }[] = [];
  const act2 = mqtt.connect(`mqtt://127.0.0.1:${gw2.running.ports.mqtt}`, { clientId: 'act-q7', clean: false, reconnectPeriod: 0 });
  defer(() => act2.endAsync());
  act2.on('message', (topic, payload) => messages.push({ topic, type: (JSON.parse(payload.toString()) as { type?: unknown }).type }));
  const connack = await new Promise<{ sessionPresent: boolean }>((r) => act2.once('connect', r));
  expect(connack.sessionPresent).toBe(true);
  await waitFor(() => messages.length > 0, 'the queued command');
  expect(messages).toEqual([{ topic: 'commands/lab3/k7/hvac', type: 'hvac.set' }]);
});
