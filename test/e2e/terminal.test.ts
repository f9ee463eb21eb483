/**
 * What a person sees at a terminal: readable log lines (LOG_FORMAT=auto on a TTY), the GW_ERR
 * code in them, no stack trace for an expected failure, JSON when asked for or when piped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { uniqueDb } from '../helpers/influx.js';
import { gatewayInTty, type TtyProcess } from '../helpers/tty.js';

const { defer } = useCleanup();

async function baseEnv(): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tty-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  return { MQTT_PORT: '0', MQTT_WS_PORT: '0', HTTP_PORT: '0', DATA_DIR: dir, RULES_DIR: 'rules', INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb() };
}

function tracked(p: TtyProcess): TtyProcess {
  defer(async () => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

describe('the gateway on a terminal', () => {
  it('says a port is in use in one readable line with its code, without JSON or a stack trace, and exits 1', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    defer(() => new Promise((r) => blocker.close(r)));
    const port = (blocker.address() as { port: number }).port;
    const gw = tracked(gatewayInTty({ ...(await baseEnv()), MQTT_PORT: String(port) }));
    expect(await gw.exited).toBe(1);
    const lines = gw.output().split('\n').filter(Boolean);
    const fatal = lines.filter((l) => l.includes('FATAL'));
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] FATAL: gateway could not start: GW_ERR_LISTEN: MQTT_PORT=${port} on 127\\.0\\.0\\.1: EADDRINUSE`));
    expect(lines.filter((l) => l.trimStart().startsWith('at ') || l.includes('"stack"'))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);
  });

  it('prints readable lines with the component and code, and stops on Ctrl-C with exit 0', async () => {
    const gw = tracked(gatewayInTty({ ...(await baseEnv()), RULES_DIR: 'test/fixtures/no-such-rules-dir' }));
    await gw.waitForOutput(/INFO: gateway started/, 'the gateway to start');
    gw.interrupt();
    expect(await gw.exited).toBe(0);
    const out = gw.output();
    expect(out).toMatch(/\] WARN: \[rules\] no rule files in test\/fixtures\/no-such-rules-dir: no rules in force \(the directory does not exist\)/);
    expect(out).toMatch(/INFO: shutting down .*"signal":"SIGINT"/);
    expect(out).toContain('INFO: gateway stopped');
    expect(out.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  });

  it('writes JSON on a terminal when LOG_FORMAT=json, with the code as a field', async () => {
    const gw = tracked(gatewayInTty({ ...(await baseEnv()), LOG_FORMAT: 'json', MQTT_PORT: 'eighty' }));
    expect(await gw.exited).toBe(1);
    const line = gw.output().split('\n').find((l) => l.startsWith('{'));
    expect(JSON.parse(line!)).toMatchObject({ level: 60, code: 'GW_ERR_SETTINGS' });
  });

  it('shows the GW_ERR code of a bad setting in front of its message', async () => {
    const gw = tracked(gatewayInTty({ ...(await baseEnv()), LOG_LEVEL: 'loud' }));
    expect(await gw.exited).toBe(1);
    expect(gw.output()).toMatch(/FATAL: GW_ERR_SETTINGS: LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/);
  });
});
