/**
 * `npm run simulate -- --family …`: simulated native firmware of each family, placed by the map
 * the simulator prints, is stored as readings; its actuators answer the gateway's native commands
 * with the state report their firmware sends, which comes back as actuator_state.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';
import { NATIVE_FAMILIES } from '../../simulators/native-families.js';
import { fleetMap, runNativeSimulation, simulatedFleet } from '../../simulators/native.js';

describe('simulated native devices', () => {
  it.each(NATIVE_FAMILIES)('%s: readings stored, and native commands answered with the firmware’s state report', async (family) => {
    const map = fleetMap(family, simulatedFleet(family, 4, 'sim'));
    const gw = await startWithMap(map, { rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-native') });
    const controller = new AbortController();
    const answered: string[] = [];
    try {
      const run = runNativeSimulation({ url: gw.mqttUrl, family, devices: 4, rate: 20, duration: 60, prefix: 'sim', signal: controller.signal, onAnswer: (topic) => answered.push(topic) });
      const zone = Object.keys(map.actuators)[0]!.split('/')[1]!;
      const actuator = Object.keys(map.actuators)[0]!.split('/')[2]!;
      await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE site = 'sim'`).then((x) => x.length >= 2), 'simulated readings');
      // A hot reading in the actuator's zone: the rules command it, the gateway speaks its language, the firmware answers.
      const trigger = await connect(gw.mqttUrl, { clientId: 'trigger' });
      await trigger.publishAsync(`sensors/sim/${zone}/t1/temperature`, JSON.stringify({ value: 31 }), { qos: 1 });
      await trigger.endAsync();
      await waitFor(() => answered.length > 0, 'the simulated firmware to answer a native command', 15_000);
      const states = await waitFor(
        () => rows(gw.influxUrl, gw.db, `SELECT state FROM actuator_state WHERE site = 'sim' AND zone = '${zone}' AND actuator = '${actuator}'`).then((x) => (x.some((s) => /"(on|cool)"/.test(String(s['state']))) ? x : undefined)),
        'the answered state in actuator_state',
        15_000,
      );
      expect(states.length).toBeGreaterThan(0);
      controller.abort();
      const summary = await run;
      expect(summary).toMatchObject({ family, devices: 4, failed: 0 });
      expect(summary.commandsAnswered).toBeGreaterThan(0);
      const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { waiting: boolean }[] };
      expect(api.devices.filter((d) => d.waiting)).toEqual([]);
    } finally {
      controller.abort();
      await gw.stop();
    }
  });
});
