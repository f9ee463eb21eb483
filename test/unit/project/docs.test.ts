import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSettings } from '../../../gateway/config/settings.js';
import { ERRORS } from '../../../gateway/core/errors.js';
import { FACT_NAMES } from '../../../gateway/rules/facts.js';
import { CUSTOM_OPERATORS } from '../../../gateway/rules/operators.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
const readme = () => readFile(resolve(root, 'README.md'), 'utf8');

describe('documentation', () => {
  it('opens the README with the two commands a newcomer needs', async () => {
    const head = (await readme()).split('\n').slice(0, 6).join('\n');
    expect(head).toContain('npm install && npm start');
    expect(head).toContain('npm test');
  });

  it('shows on its first screen what npm start prints on a fresh machine, in the words the gateway uses', async () => {
    const screen = (await readme()).split('\n').slice(0, 40).join('\n');
    const sources = (await Promise.all(['gateway/storage/influx-install.ts', 'gateway/storage/influxd.ts', 'gateway/gateway.ts', 'gateway/main.ts'].map((f) => readFile(resolve(root, f), 'utf8')))).join('\n');
    const lines = screen.split('\n').filter((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR)/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(8);
    for (const message of ["InfluxDB is not installed: installing Debian's influxdb with scripts/setup.sh", 'InfluxDB installed', 'started an embedded InfluxDB (pid', 'gateway started', 'shutting down', 'embedded InfluxDB stopped (pid', 'gateway stopped']) {
      expect(screen, message).toContain(message);
      expect(sources, message).toContain(message.replace(/ \(pid$/, ' (pid ${'));
    }
  });

  it("points only at files a clone has: every relative link resolves, and nothing sends a reader outside the repository", async () => {
    for (const doc of ['README.md', 'rules/README.md', 'bench/README.md', 'docs/DEVELOPING.md']) {
      const text = await readFile(resolve(root, doc), 'utf8');
      const targets = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));
      for (const target of targets) expect(existsSync(resolve(root, dirname(doc), target)), `${doc} links ${target}`).toBe(true);
      expect(text, doc).not.toContain('../shared/');
    }
  });

  it.runIf(existsSync(resolve(root, '..', 'shared', 'DESIGN.md')))('keeps docs/DESIGN.md the shared contract, byte for byte', async () => {
    expect(await readFile(resolve(root, 'docs', 'DESIGN.md'), 'utf8')).toBe(await readFile(resolve(root, '..', 'shared', 'DESIGN.md'), 'utf8'));
  });

  it('documents every error code', async () => {
    const text = await readme();
    for (const code of Object.keys(ERRORS)) expect(text, code).toContain(`\`${code}\``);
  });

  it('documents every setting with its default', async () => {
    const text = await readme();
    for (const s of describeSettings()) {
      const row = text.split('\n').find((l) => l.startsWith('|') && l.includes(`\`${s.env}\``));
      expect(row, s.env).toBeDefined();
      if (!s.env.startsWith('INFLUX_TOKEN') && !['INFLUX_ORG', 'INFLUX_BUCKET', 'BIND_HOST'].includes(s.env)) expect(row, s.env).toContain(s.default);
    }
  });

  it('documents every fact and operator a rule can use', async () => {
    const text = await readFile(resolve(root, 'rules', 'README.md'), 'utf8');
    for (const fact of FACT_NAMES) expect(text, fact).toContain(`\`${fact}\``);
    for (const op of Object.keys(CUSTOM_OPERATORS)) expect(text, op).toContain(`\`${op}\``);
  });
});
