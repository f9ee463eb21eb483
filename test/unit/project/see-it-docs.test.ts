import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDashboards } from '../../helpers/grafana.js';
import { ROOT } from '../../helpers/process.js';

describe('the README’s "See it" section', () => {
  it('shows the live page screenshot, and the file is there', async () => {
    const readme = await readFile(resolve(ROOT, 'README.md'), 'utf8');
    const image = /!\[[^\]]*\]\((docs\/[^)]+\.png)\)/.exec(readme)?.[1];
    expect(image).toBe('docs/live-page.png');
    expect(existsSync(resolve(ROOT, image!))).toBe(true);
  });

  it('lists every dashboard by its title, and how to start Grafana', async () => {
    const readme = await readFile(resolve(ROOT, 'README.md'), 'utf8');
    for (const { json } of await loadDashboards()) expect(readme).toContain(`| ${json.title} |`);
    expect(readme).toContain('docker compose up');
    expect(readme).toContain('http://localhost:3000');
  });
});
