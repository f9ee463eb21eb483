import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../../gateway/core/lifecycle.js';
import { captureLogs } from '../../helpers/gateway.js';

describe('Lifecycle', () => {
  it('stops components in reverse order of start, and a failing stop does not skip the rest', async () => {
    const { lines, stream } = captureLogs();
    const lifecycle = new Lifecycle(pino({ level: 'info' }, stream));
    const stopped: string[] = [];
    lifecycle.add('spool', { stop: () => void stopped.push('spool') });
    lifecycle.add('sink', { stop: () => Promise.reject(new Error('InfluxDB went away')) });
    lifecycle.add('rules', { stop: async () => void stopped.push('rules') });
    lifecycle.add('broker', {
      stop: () => {
        throw new Error('socket error');
      },
    });
    lifecycle.add('http', { stop: () => void stopped.push('http') });

    const failed = await lifecycle.stopAll();

    expect(stopped).toEqual(['http', 'rules', 'spool']);
    expect(failed).toEqual(['broker', 'sink']);
    expect(lines.filter((l) => l.level === 50).map((l) => l['component'])).toEqual(['broker', 'sink']);
    // Stopped once: a second call has nothing left to stop.
    expect(await lifecycle.stopAll()).toEqual([]);
    expect(stopped).toEqual(['http', 'rules', 'spool']);
  });
});
