/**
 * A command goes out only once it is on disk, with the reading that caused it. An outside tester
 * killed the gateway (SIGKILL) under a load of commanding QoS 1 readings: 1,304 commands reached
 * a subscriber for 1,303 readings stored; the last command's reading and the command itself were
 * in neither the spool nor InfluxDB, and after the restart the gateway did not know it had
 * commanded that HVAC. The command was published in the turn its reading arrived, while both were
 * still waiting for the spool's group commit.
 *
 * Here the spool's disk holds its writes (a real disk behind a gate): the command must not be
 * published while its record is not written, and goes out once it is. A disk that never writes
 * must not silence the rules for good: past COMMAND_STORE_WAIT_MS the command goes out, counted.
 */
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { deferred } from '../../helpers/deferred.js';
import { startGateway } from '../../helpers/gateway.js';
import { collect, connect } from '../../helpers/mqtt.js';
import { count } from '../../helpers/ports.js';
import { hookedDisk } from '../../helpers/spool-disk.js';
import { waitFor } from '../../helpers/wait.js';

const { defer } = useCleanup();

/** A spool disk whose segment writes wait while `hold` is set. */
function gatedDisk() {
  const gate = { hold: false, open: deferred(), held: 0 };
  const disk = hookedDisk(async (call) => {
    if (call !== 'writing.writev' || !gate.hold) return;
    gate.held++;
    await gate.open.promise;
  });
  return { gate, disk };
}

async function setup(storeWaitMs: number) {
  const { gate, disk } = gatedDisk();
  const gw = await startGateway({ spoolDisk: disk, env: { COMMAND_STORE_WAIT_MS: String(storeWaitMs), STATS_INTERVAL_MS: '0' } });
  defer(() => gw.stop());
  defer(async () => gate.open.resolve());
  const device = await connect(gw.mqttUrl, { clientId: 'hot-room' });
  const watcher = await connect(gw.mqttUrl, { clientId: 'command-watch' });
  defer(() => device.endAsync(true));
  defer(() => watcher.endAsync(true));
  const commands = await collect(watcher, 'commands/#');
  // A round trip through the broker (a QoS 0 reading waits for no disk): whatever was published
  // before it has been delivered by then.
  const echo = await collect(watcher, 'sensors/echo/#');
  const roundTrip = async (n: number): Promise<void> => {
    await watcher.publishAsync('sensors/echo/z1/h1/humidity', JSON.stringify({ value: n, id: `echo-${n}` }), { qos: 0 });
    await echo.next((m) => m.json<{ id: string }>().id === `echo-${n}`);
  };
  return { gw, gate, device, commands, roundTrip };
}

describe('a command is published once it is on disk', () => {
  it('waits for the spool to write the command and its reading, then goes out', async () => {
    const { gw, gate, device, commands, roundTrip } = await setup(60_000);
    gate.hold = true;
    // Hot: the shipped hvac pack commands cooling. QoS 1: its PUBACK waits for the disk too.
    void device.publishAsync('sensors/disk/z1/t1/temperature', JSON.stringify({ value: 31, id: 'hot-1' }), { qos: 1 }).catch(() => undefined);
    await waitFor(() => gw.gateway.rules.runtime.dispatcher.current('disk/z1/hvac'), 'the rules commanding disk/z1/hvac');
    await waitFor(() => gate.held > 0, 'the spool writing (held)');
    await roundTrip(1);
    expect(commands.messages.map((m) => m.topic)).toEqual([]);

    gate.open.resolve();
    const command = await commands.next((m) => m.topic === 'commands/disk/z1/hvac');
    expect(command.json<{ correlationid: string }>().correlationid).toBe('hot-1');
    expect(await count(gw.gateway.metrics, 'gateway_outputs_unstored_total', { kind: 'command' })).toBe(0);
  });

  it('goes out anyway, counted, when the spool does not write within COMMAND_STORE_WAIT_MS', async () => {
    const { gw, gate, device, commands } = await setup(300);
    gate.hold = true;
    void device.publishAsync('sensors/stuck/z1/t1/temperature', JSON.stringify({ value: 31, id: 'hot-2' }), { qos: 1 }).catch(() => undefined);
    const command = await commands.next((m) => m.topic === 'commands/stuck/z1/hvac', 10_000);
    expect(command.json<{ correlationid: string }>().correlationid).toBe('hot-2');
    expect(gate.held).toBeGreaterThan(0);
    expect(await count(gw.gateway.metrics, 'gateway_outputs_unstored_total', { kind: 'command' })).toBe(1);
    expect(gw.logs.some((l) => String(l['msg']).includes('published before it was on disk'))).toBe(true);
  });
});
