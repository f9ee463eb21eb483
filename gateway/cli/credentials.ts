/**
 * npm run credentials -- add <name> --role device --device t-101 --site hq --zone f1
 * npm run credentials -- add plug-1 --role native --native tasmota:tasmota_A1B2C3
 * npm run credentials -- add z2m --role bridge [--family zigbee2mqtt] [--base zigbee2mqtt]
 * npm run credentials -- list
 * npm run credentials -- remove <name>
 *
 * Manages DATA_DIR/credentials.json (or CREDENTIALS_FILE). `add` prints the new secret once:
 * only its scrypt hash is kept. A running gateway picks the change up at the next CONNECT.
 */
import { join, resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadSettings } from '../config/settings.js';
import { BRIDGE_FAMILIES, CredentialStore, ROLES, type Role } from '../broker/credentials.js';
import { NATIVE_FAMILIES } from '../broker/native-acl.js';
import { GatewayError } from '../core/errors.js';

import { err, out } from './terminal.js';
import { SEGMENT_HINT, isSegment } from '../core/segments.js';

function segment(name: string) {
  return (v: string): string => {
    if (!isSegment(v)) throw new InvalidArgumentError(`${name} must match ${SEGMENT_HINT}`);
    return v;
  };
}

function storeFor(file: string | undefined): CredentialStore {
  if (file) return new CredentialStore(resolve(file));
  const settings = loadSettings();
  return new CredentialStore(resolve(settings.credentialsFile || join(settings.dataDir, 'credentials.json')));
}

/**
 * What the first credential changes for a gateway using this file (MQTT_ALLOW_ANONYMOUS=auto and
 * an empty BIND_HOST): anonymous clients are refused from their next CONNECT, and the next start
 * listens on every interface. Undefined when the settings keep both as they were.
 */
function firstCredentialNotice(): string | undefined {
  let settings;
  try {
    settings = loadSettings();
  } catch {
    settings = undefined;
  }
  const anonymousStays = settings?.allowAnonymous === 'true';
  const bindStays = Boolean(settings?.bindHost);
  const changes = [
    anonymousStays ? '' : '  - anonymous clients are refused from now on (by a running gateway from their next CONNECT): give every device and tool a credential (the simulator: --username and --password of an admin credential), or set MQTT_ALLOW_ANONYMOUS=true',
    bindStays ? '' : '  - at its next start the gateway listens on every interface (0.0.0.0), not only on 127.0.0.1: set BIND_HOST=127.0.0.1 to keep it local',
  ].filter(Boolean);
  return changes.length > 0 ? ['This is the first credential, so:', ...changes].join('\n') : undefined;
}

async function readSecret(): Promise<string> {
  const secret = (await text(process.stdin)).replace(/\r?\n$/, '');
  if (secret.length < 12) throw new GatewayError('GW_ERR_CREDENTIALS', 'a secret given on stdin must be at least 12 characters');
  return secret;
}

interface AddOptions {
  role: Role;
  device?: string;
  site?: string;
  zone?: string;
  native?: string;
  family?: string;
  base?: string;
  secretStdin?: boolean;
  json?: boolean;
}

const program = new Command()
  .name('npm run credentials --')
  .description('Device and service credentials for the gateway (DATA_DIR/credentials.json, or CREDENTIALS_FILE).')
  .option('--file <path>', 'credentials file (default: CREDENTIALS_FILE, else DATA_DIR/credentials.json)');

program
  .command('add')
  .description('add a credential and print its new secret (shown once)')
  .argument('<name>', 'the MQTT username')
  .addOption(new Option('--role <role>', 'what the client may do').choices(ROLES).makeOptionMandatory())
  .option('--device <id>', 'the device (and MQTT client id); default: the name, for role device', segment('--device'))
  .option('--site <site>', 'the site a device sits in (required for device; scopes an actuator)', segment('--site'))
  .option('--zone <zone>', 'the zone a device sits in (required for device; scopes an actuator)', segment('--zone'))
  .option('--native <family:id>', `role native: the one native device it is (${NATIVE_FAMILIES.map((f) => `${f}:<id>`).join(', ')})`)
  .addOption(new Option('--family <family>', 'role bridge: the family it speaks for (default zigbee2mqtt)').choices(BRIDGE_FAMILIES))
  .option('--base <topic>', "role bridge: its base topic (default the family's: zigbee2mqtt; required for the others)")
  .option('--secret-stdin', 'read the secret from stdin instead of generating one')
  .option('--json', 'print the result as JSON')
  .action(async (name: string, o: AddOptions) => {
    const device = o.device ?? (o.role === 'device' ? name : undefined);
    if (o.role === 'device' && (!o.site || !o.zone)) throw new InvalidArgumentError('a device needs --site and --zone (it may publish only to sensors/<site>/<zone>/<device>/…)');
    checkNativeOptions(o);
    const store = storeFor(program.opts<{ file?: string }>().file);
    const entry = {
      name,
      role: o.role,
      ...(device ? { device } : {}),
      ...(o.site ? { site: o.site } : {}),
      ...(o.zone ? { zone: o.zone } : {}),
      ...(o.native ? { native: o.native } : {}),
      ...(o.family ? { family: o.family } : {}),
      ...(o.base ? { base: o.base } : {}),
    };
    await store.load();
    const notice = store.size === 0 ? firstCredentialNotice() : undefined;
    const { credential, secret } = o.secretStdin ? await store.add(entry, await readSecret()) : await store.add(entry);
    const shown = o.secretStdin ? undefined : secret;
    if (o.json) {
      const { hash: _hash, ...rest } = credential;
      out(JSON.stringify({ ...rest, ...(shown ? { secret: shown } : {}), file: store.path, ...(notice ? { notice } : {}) }));
      return;
    }
    out(`added ${credential.name} (${describe(credential)}) to ${store.path}`);
    if (shown) out(`secret: ${shown}\n(shown once: only its hash is kept. Connect with username ${JSON.stringify(name)}${device ? ` and client id ${JSON.stringify(device)}` : ''}.)`);
    if (o.role === 'actuator' && !device) out(`(it names no device: it hears its commands, but may not report its state on devices/<device>/state; add --device <its id> for that.)`);
    if (notice) out(`\n${notice}`);
  });

program
  .command('list')
  .description('list credentials (names, roles, scopes; never secrets)')
  .option('--json', 'print as JSON')
  .action(async (o: { json?: boolean }) => {
    const store = storeFor(program.opts<{ file?: string }>().file);
    await store.load();
    const list = store.list().map(({ hash: _hash, ...rest }) => rest);
    if (o.json) return out(JSON.stringify(list));
    if (list.length === 0) return out(`no credentials in ${store.path}`);
    for (const c of list) out(`${c.name.padEnd(24)} ${describe(c)}  (added ${c.createdAt})`);
  });

program
  .command('remove')
  .description('remove a credential; its client is refused from its next CONNECT')
  .argument('<name>', 'the MQTT username')
  .action(async (name: string) => {
    const store = storeFor(program.opts<{ file?: string }>().file);
    if (!(await store.remove(name))) {
      err(`no credential named ${JSON.stringify(name)} in ${store.path}`);
      process.exitCode = 1;
      return;
    }
    out(`removed ${name} from ${store.path}`);
  });

/** The native and bridge options, said in the words of the command line (the file's schema checks them again). */
function checkNativeOptions(o: AddOptions): void {
  if (o.role === 'native' && !o.native) throw new InvalidArgumentError(`a native device needs --native <family:id> (${NATIVE_FAMILIES.map((f) => `${f}:<id>`).join(', ')}), e.g. --native tasmota:tasmota_A1B2C3`);
  if (o.native !== undefined && o.role !== 'native') throw new InvalidArgumentError('--native is for --role native');
  if (o.native !== undefined && !NATIVE_FAMILIES.some((f) => o.native!.startsWith(`${f}:`) && o.native!.length > f.length + 1)) {
    throw new InvalidArgumentError(`--native must be <family>:<id> with a family of ${NATIVE_FAMILIES.join(', ')} (got ${JSON.stringify(o.native)})`);
  }
  if ((o.family !== undefined || o.base !== undefined) && o.role !== 'bridge') throw new InvalidArgumentError('--family and --base are for --role bridge');
  if (o.role === 'bridge' && o.family !== undefined && o.family !== 'zigbee2mqtt' && o.base === undefined) throw new InvalidArgumentError(`a ${o.family} bridge needs --base <its base topic>`);
}

function describe(c: { role: Role; device?: string; site?: string; zone?: string; native?: string; family?: string; base?: string }): string {
  const where = [c.site, c.zone].filter(Boolean).join('/');
  const speaks = c.role === 'bridge' ? `${c.family ?? 'zigbee2mqtt'}${c.base ? ` under ${c.base}/` : ''}` : '';
  return [c.role, c.native ?? '', speaks, c.device ? `device ${c.device}` : '', where ? `in ${where}` : ''].filter(Boolean).join(', ');
}

program.parseAsync().catch((failure: unknown) => {
  err(failure instanceof Error ? failure.message : String(failure));
  process.exitCode = 1;
});
