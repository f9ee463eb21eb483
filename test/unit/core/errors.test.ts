import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, GatewayError, logError, logWarn } from '../../../gateway/core/errors.js';
import { RuleFileError } from '../../../gateway/rules/pack.js';
import { WriteError } from '../../../gateway/storage/writer.js';
import { ScenarioFileError } from '../../../gateway/lab/scenario.js';

const GATEWAY = resolve(import.meta.dirname, '..', '..', '..', 'gateway');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('the error catalogue', () => {
  it('is the only place a code is written as a free string in a log call (log sites use logError/logWarn)', async () => {
    const offenders: string[] = [];
    for (const file of await sources(GATEWAY)) {
      if (file.endsWith(join('core', 'errors.ts'))) continue;
      const text = await readFile(file, 'utf8');
      text.split('\n').forEach((line, i) => {
        if (/code: ['"]GW_ERR_/.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('logs the code beside the fields, from a code the compiler checked', () => {
    const lines: { level: string; fields: object; message: string }[] = [];
    const log = {
      warn: (fields: object, message: string) => lines.push({ level: 'warn', fields, message }),
      error: (fields: object, message: string) => lines.push({ level: 'error', fields, message }),
      fatal: (fields: object, message: string) => lines.push({ level: 'fatal', fields, message }),
    };
    logError(log, 'GW_ERR_SPOOL_READ', { failures: 2 }, 'the spool could not be read');
    logWarn(log, 'GW_ERR_LIMIT', {}, 'too fast');
    logError(undefined, 'GW_ERR_TLS', {}, 'no logger: nothing happens');
    expect(lines).toEqual([
      { level: 'error', fields: { failures: 2, code: 'GW_ERR_SPOOL_READ' }, message: 'the spool could not be read' },
      { level: 'warn', fields: { code: 'GW_ERR_LIMIT' }, message: 'too fast' },
    ]);
  });

  it('gives every error class the gateway throws on purpose a code from the catalogue', () => {
    const errors: GatewayError[] = [
      new RuleFileError('hvac.json', ['rules[0]: bad']),
      new ScenarioFileError('tests/hvac.json', ['steps[1]: bad']),
      new WriteError('rejected', 'field type conflict', 400),
      new WriteError('retryable', 'ECONNREFUSED'),
    ];
    expect(errors.map((e) => e.code)).toEqual(['GW_ERR_RULE_FILE', 'GW_ERR_SCENARIO_FILE', 'GW_ERR_INFLUX_REJECTED', 'GW_ERR_INFLUX_UNREACHABLE']);
    for (const e of errors) {
      expect(e).toBeInstanceOf(GatewayError);
      expect(Object.keys(ERRORS)).toContain(e.code);
      expect(e.message.startsWith(`${e.code}: `)).toBe(true);
    }
  });
});
