import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CredentialStore, Role } from './credentials.js';

/**
 * INITIAL_CREDENTIALS (`admin:admin,simulator:admin`): a stack that must be secured from its
 * first start (the compose demo) gets these credentials when the credentials file has none yet.
 * Each secret is generated, printed once in the log, and written to
 * `DATA_DIR/initial-secrets/<name>` (mode 0600) for the services started beside the gateway
 * (the demo's simulator reads its own there). Later starts, with credentials present, do nothing.
 */
export function parseInitialCredentials(spec: string): { name: string; role: Role }[] {
  return spec
    .split(',')
    .filter(Boolean)
    .map((entry) => {
      const [name = '', role = ''] = entry.split(':');
      return { name, role: role as Role };
    });
}

export const initialSecretsDir = (dataDir: string): string => join(dataDir, 'initial-secrets');

export async function ensureInitialCredentials(store: CredentialStore, spec: string, dataDir: string, log: Logger): Promise<void> {
  const wanted = parseInitialCredentials(spec);
  if (wanted.length === 0) return;
  await store.load();
  if (store.size > 0) return;
  const dir = initialSecretsDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const { name, role } of wanted) {
    const { secret } = await store.add({ name, role });
    const file = join(dir, name);
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    // Printed on purpose, once: the operator's only chance to see it besides the file.
    log.warn({ name, role, file }, `first start: created credential ${JSON.stringify(name)} (role ${role}), secret ${secret} — shown once here and kept in ${file}; note it and delete the file when no service needs it`);
  }
}
