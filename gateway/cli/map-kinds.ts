/**
 * The kinds the device map adds (`kinds:` in DEVICES_FILE), put in force for a command-line tool
 * as the gateway does at start: a pack on `pressure` runs in the gateway, so `rules:test` and
 * `rules:replay` must know it too. A missing map adds nothing; a broken one is said and skipped.
 */
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { defineKinds } from '../core/kinds.js';
import { parseDeviceMap } from '../devices/map.js';

/** The map's kinds defined (their names), or why they could not be (the tool goes on without them). */
export async function useMapKinds(file: string): Promise<{ kinds: string[]; problem?: string }> {
  const shown = relative(process.cwd(), resolve(file)) || file;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kinds: [] };
    return { kinds: [], problem: `${shown}: cannot be read: ${(err as Error).message}` };
  }
  try {
    const map = parseDeviceMap(shown, text);
    const problems = defineKinds(useMapKinds, map.kinds);
    if (problems.length > 0) return { kinds: [], problem: `${shown}: kinds: ${problems.join('; ')}` };
    return { kinds: map.kinds.map((k) => k.name) };
  } catch (err) {
    return { kinds: [], problem: (err as Error).message };
  }
}

/** The device map a tool reads: --devices, else DEVICES_FILE, else devices.yaml (the gateway's default). */
export const DEVICES_DEFAULT = process.env['DEVICES_FILE'] ?? 'devices.yaml';
