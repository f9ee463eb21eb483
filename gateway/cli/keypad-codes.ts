/**
 * echo 1234 | npm run keypad-codes -- add alice [--zones hq/porch,hq/*]
 * npm run keypad-codes -- add alice --code 1234        # for scripts: the code is then in the process list
 * npm run keypad-codes -- list
 * npm run keypad-codes -- remove alice
 *
 * Manages DATA_DIR/keypad-codes.json (or KEYPAD_CODES_FILE): the codes the gateway checks a
 * Zigbee2MQTT keypad's arm and disarm against (ingest/keypad.ts). Only each code's scrypt hash is
 * kept; the code is never printed. A running gateway reads the change at the next keypad press.
 */
import { join, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { Command, InvalidArgumentError } from 'commander';
import { loadSettings } from '../config/settings.js';
import { CODE_PATTERN, KeypadCodes } from '../ingest/keypad-codes.js';
import { SEGMENT_HINT, isSegment } from '../core/segments.js';
import { err, out } from './terminal.js';

function storeFor(file: string | undefined): KeypadCodes {
  if (file) return new KeypadCodes(resolve(file));
  const settings = loadSettings();
  return new KeypadCodes(resolve(settings.keypadCodesFile || join(settings.dataDir, 'keypad-codes.json')));
}

function zonesOf(v: string): string[] {
  const zones = v.split(',').map((z) => z.trim()).filter(Boolean);
  for (const z of zones) {
    const [site = '', zone = '', ...rest] = z.split('/');
    if (rest.length > 0 || !isSegment(site) || (zone !== '*' && !isSegment(zone))) throw new InvalidArgumentError(`--zones takes site/zone or site/* (each ${SEGMENT_HINT}), comma-separated; got ${JSON.stringify(z)}`);
  }
  if (zones.length === 0) throw new InvalidArgumentError('--zones needs at least one site/zone');
  return zones;
}

async function codeFrom(o: { code?: string }): Promise<string> {
  const code = o.code ?? (await text(process.stdin)).replace(/\r?\n$/, '');
  // Said without the code: the terminal it was typed on may be shared.
  if (!CODE_PATTERN.test(code)) throw new InvalidArgumentError('a keypad code is 4 to 32 characters a keypad can type (digits, letters, * and #), given on stdin or with --code');
  return code;
}

const program = new Command()
  .name('npm run keypad-codes --')
  .description('Codes the gateway checks Zigbee2MQTT keypads against (DATA_DIR/keypad-codes.json, or KEYPAD_CODES_FILE).')
  .option('--file <path>', 'keypad codes file (default: KEYPAD_CODES_FILE, else DATA_DIR/keypad-codes.json)');

program
  .command('add')
  .description('add a code (read from stdin, or --code); only its hash is kept')
  .argument('<name>', 'whose code it is (said in the log when it arms or disarms)')
  .option('--zones <list>', 'the zones it may arm and disarm: site/zone or site/*, comma-separated (default: every zone)', zonesOf)
  .option('--code <code>', 'the code itself, for scripts (it shows in the process list: prefer stdin)')
  .option('--json', 'print the result as JSON')
  .action(async (name: string, o: { zones?: string[]; code?: string; json?: boolean }) => {
    const store = storeFor(program.opts<{ file?: string }>().file);
    const { hash: _hash, ...entry } = await store.add(name, await codeFrom(o), o.zones);
    if (o.json) return out(JSON.stringify({ ...entry, file: store.path }));
    out(`added keypad code ${entry.name} (${entry.zones ? entry.zones.join(', ') : 'every zone'}) to ${store.path}`);
    if (store.size === 1) out('This is the first keypad code: from the next keypad press on, the gateway answers every placed Zigbee2MQTT keypad as its alarm panel (README "Keypads").');
  });

program
  .command('list')
  .description('list codes (names and zones; never codes)')
  .option('--json', 'print as JSON')
  .action(async (o: { json?: boolean }) => {
    const store = storeFor(program.opts<{ file?: string }>().file);
    await store.load();
    const list = store.list().map(({ hash: _hash, ...rest }) => rest);
    if (o.json) return out(JSON.stringify(list));
    if (list.length === 0) return out(`no keypad codes in ${store.path}`);
    for (const c of list) out(`${c.name.padEnd(24)} ${c.zones ? c.zones.join(', ') : 'every zone'}  (added ${c.createdAt})`);
  });

program
  .command('remove')
  .description('remove a code; refused from the next keypad press')
  .argument('<name>', 'whose code it is')
  .action(async (name: string) => {
    const store = storeFor(program.opts<{ file?: string }>().file);
    if (!(await store.remove(name))) {
      err(`no keypad code named ${JSON.stringify(name)} in ${store.path}`);
      process.exitCode = 1;
      return;
    }
    out(`removed keypad code ${name} from ${store.path}`);
  });

program.parseAsync().catch((failure: unknown) => {
  err(failure instanceof Error ? failure.message : String(failure));
  process.exitCode = 1;
});
