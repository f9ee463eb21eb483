/**
 * docker-compose.yml, the Dockerfile and Grafana's provisioning agree with each other and with
 * the gateway's settings (there is no Docker engine here, so this is how they are tested):
 * every mounted path exists, ports and settings match, images are pinned.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { initialSecretsDir, parseInitialCredentials } from '../../../gateway/broker/initial-credentials.js';
import { describeSettings, loadSettings } from '../../../gateway/config/settings.js';
import { loadDashboards } from '../../helpers/grafana.js';
import { ROOT } from '../../helpers/process.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  profiles?: string[];
  deploy?: { replicas?: string | number };
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

let compose: Compose;
let dockerfile: string[];
let datasources: { datasources: { uid: string; type: string; url: string; jsonData: { dbName: string } }[] };
let providers: { providers: { type: string; options: { path: string } }[] };
const read = (path: string) => readFile(resolve(ROOT, path), 'utf8');
const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
const env = (name: string): Record<string, string> => service(name).environment ?? {};
/** `"127.0.0.1:8086:8086"` or `"1883:1883"` → container port. */
const containerPort = (mapping: string): number => Number(mapping.split(':').at(-1));
const settingDefault = (variable: string): string => {
  const s = describeSettings().find((x) => x.env === variable);
  if (!s) throw new Error(`no setting ${variable}`);
  return s.default;
};

beforeAll(async () => {
  compose = parseYaml(await read('docker-compose.yml'), { merge: true }) as Compose;
  // One instruction per entry, continuation lines joined.
  dockerfile = (await read('Dockerfile'))
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  datasources = parseYaml(await read('dashboards/provisioning/datasources/influxdb.yml')) as typeof datasources;
  providers = parseYaml(await read('dashboards/provisioning/dashboards/gateway.yml')) as typeof providers;
});

describe('docker-compose.yml', () => {
  it('mounts only paths that exist, and declares every named volume it uses', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(resolve(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: named volume ${source}`).toHaveProperty(source);
      }
      if (s.build) {
        const build = typeof s.build === 'string' ? { context: s.build } : s.build;
        expect(existsSync(resolve(ROOT, build.context, build.dockerfile ?? 'Dockerfile')), `${name}: build`).toBe(true);
      }
    }
  });

  it('pins every image it pulls: InfluxDB 1.x (the API the tests use) and the Grafana the dashboards are checked against', async () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build) continue;
      expect(s.image, name).toMatch(/^[\w./-]+:\d+\.\d+\.\d+$/);
    }
    expect(service('influxdb').image).toMatch(/^influxdb:1\.\d+\.\d+$/);
    const pkg = JSON.parse(await read('package.json')) as { devDependencies: Record<string, string> };
    expect(service('grafana').image).toBe(`grafana/grafana:${pkg.devDependencies['@grafana/schema']}`);
  });

  it('gives every long-running service a health check, and starts services after what they need is healthy', () => {
    for (const name of ['influxdb', 'gateway', 'grafana']) expect(service(name).healthcheck?.test.length, name).toBeGreaterThan(0);
    expect(service('gateway').depends_on?.['influxdb']?.condition).toBe('service_healthy');
    expect(service('grafana').depends_on?.['influxdb']?.condition).toBe('service_healthy');
    expect(service('simulator').depends_on?.['gateway']?.condition).toBe('service_healthy');
  });

  it('sets only settings the gateway knows (and TZ), and valid ones', () => {
    const known = new Set([...describeSettings().map((s) => s.env), 'TZ']);
    for (const key of Object.keys(env('gateway'))) expect(known.has(key), key).toBe(true);
    const settings = loadSettings(Object.fromEntries(Object.entries(env('gateway')).filter(([k]) => k !== 'TZ')));
    expect(settings.mqttPort).toBe(Number(env('gateway')['MQTT_PORT']));
  });

  it('secures the demo broker from its first start: generated credentials, the simulator uses its own, anonymous clients only read', () => {
    const gateway = loadSettings(Object.fromEntries(Object.entries(env('gateway')).filter(([k]) => k !== 'TZ')));
    const initial = parseInitialCredentials(gateway.initialCredentials);
    expect(initial).toContainEqual({ name: 'admin', role: 'admin' });
    expect(initial).toContainEqual({ name: 'simulator', role: 'admin' });
    // Anonymous: refused, or read-only at most.
    if (gateway.allowAnonymous !== 'false') expect(gateway.anonymousRole).toBe('observer');
    const args = service('simulator').command ?? [];
    expect(args[args.indexOf('--username') + 1]).toBe('simulator');
    const passwordFile = args[args.indexOf('--password-file') + 1]!;
    expect(passwordFile).toBe(join(initialSecretsDir(gateway.dataDir), 'simulator'));
    // The simulator reads it from the gateway's data volume, mounted read-only.
    const gatewayMount = (service('gateway').volumes ?? []).find((v) => v.endsWith(`:${gateway.dataDir}`))!;
    expect(service('simulator').volumes).toContain(`${gatewayMount}:ro`);
  });

  it('runs the gateway and the simulator in the host’s time zone, or TZ when set', () => {
    for (const name of ['gateway', 'simulator']) {
      expect(env(name)['TZ'], name).toBe('${TZ:-}');
      expect(service(name).volumes, name).toContain('/etc/localtime:/etc/localtime:ro');
    }
    expect(dockerfile).toContain('RUN test -e /usr/share/zoneinfo/Etc/UTC');
  });

  it('publishes the gateway ports it configures, and health-checks the HTTP port', () => {
    const e = env('gateway');
    const published = (service('gateway').ports ?? []).map(containerPort).sort();
    expect(published).toEqual([e['MQTT_PORT'], e['MQTT_WS_PORT'], e['HTTP_PORT']].map(Number).sort());
    expect(service('gateway').healthcheck?.test.join(' ')).toContain(`127.0.0.1:${e['HTTP_PORT']}/healthz`);
    expect(e['BIND_HOST']).toBe('0.0.0.0');
  });

  it('points the gateway and Grafana at the InfluxDB service and database', () => {
    const influxPort = containerPort(service('influxdb').ports![0]!);
    const url = new URL(env('gateway')['INFLUX_URL']!);
    expect(url.hostname).toBe('influxdb');
    expect(Number(url.port)).toBe(influxPort);
    expect(env('gateway')['INFLUX_DB']).toBe(env('influxdb')['INFLUXDB_DB']);
    expect(env('grafana')['INFLUX_URL']).toBe(env('gateway')['INFLUX_URL']);
    expect(env('grafana')['INFLUX_DB']).toBe(env('gateway')['INFLUX_DB']);
  });

  it('runs the simulator with a plain docker compose up (DESIGN.md: gateway, InfluxDB, Grafana and a simulator), against the gateway’s MQTT port', () => {
    const sim = service('simulator');
    expect(sim.profiles).toBeUndefined();
    // Real devices: SIMULATOR_REPLICAS=0 in .env keeps it out for good (its readings would go into the real history).
    expect(sim.deploy?.replicas).toBe('${SIMULATOR_REPLICAS:-1}');
    const args = sim.command ?? [];
    expect(args[args.indexOf('--url') + 1]).toBe(`mqtt://gateway:${env('gateway')['MQTT_PORT']}`);
    expect(args[1]).toBe('dist/simulators/cli.js');
    expect(existsSync(resolve(ROOT, 'simulators', 'cli.ts'))).toBe(true);
  });
});

describe('Grafana provisioning', () => {
  it('mounts the provisioning where Grafana reads it, and the dashboards where the provider looks', async () => {
    const mounts = new Map((service('grafana').volumes ?? []).map((v) => [v.split(':')[0]!, v.split(':')[1]!]));
    expect(mounts.get('./dashboards/provisioning')).toBe('/etc/grafana/provisioning');
    const dashboardsDir = mounts.get('./dashboards/json');
    const [provider] = providers.providers;
    expect(provider?.type).toBe('file');
    expect(provider?.options.path).toBe(dashboardsDir);
    const home = env('grafana')['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']!;
    expect(home.startsWith(`${dashboardsDir}/`)).toBe(true);
    expect(existsSync(resolve(ROOT, 'dashboards', 'json', home.slice(dashboardsDir!.length + 1)))).toBe(true);
  });

  it('provisions the InfluxDB data source the dashboards use, from variables Grafana’s environment sets', async () => {
    const [ds] = datasources.datasources;
    expect(ds?.type).toBe('influxdb');
    for (const { json, file } of await loadDashboards()) expect(JSON.stringify(json), file).toContain(`"uid":"${ds!.uid}"`);
    const text = await read('dashboards/provisioning/datasources/influxdb.yml');
    const used = [...text.matchAll(/\$\{?(\w+)\}?/g)].map((m) => m[1]!);
    expect(used.sort()).toEqual(['INFLUX_DB', 'INFLUX_URL']);
    for (const name of used) expect(env('grafana'), name).toHaveProperty(name);
  });
});

describe('Dockerfile', () => {
  it('builds in two stages and runs the compiled gateway as a non-root user', () => {
    expect(dockerfile.filter((l) => l.startsWith('FROM ')).length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toContain('USER node');
    expect(dockerfile.find((l) => l.startsWith('CMD '))).toContain('dist/gateway/main.js');
    expect(existsSync(resolve(ROOT, 'gateway', 'main.ts'))).toBe(true);
  });

  it('copies only what exists and is not excluded by .dockerignore', async () => {
    const ignored = (await read('.dockerignore')).split('\n').map((l) => l.trim()).filter(Boolean);
    for (const l of dockerfile.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const sources = l.split(/\s+/).slice(1, -1);
      for (const source of sources) {
        expect(existsSync(resolve(ROOT, source)), l).toBe(true);
        expect(ignored, `${source} is in .dockerignore`).not.toContain(source);
      }
    }
  });

  it('keeps what the gateway writes (its data, the device map `devices assign` edits) in the volume, owned by the user it runs as', () => {
    const env = Object.fromEntries(
      dockerfile
        .filter((l) => l.startsWith('ENV '))
        .flatMap((l) => l.slice(4).trim().split(/\s+/))
        .map((kv) => kv.split('=') as [string, string]),
    );
    const volume = (JSON.parse(dockerfile.find((l) => l.startsWith('VOLUME '))!.slice(7)) as string[])[0]!;
    expect(env['DATA_DIR']).toBe(volume);
    // The default (devices.yaml in the working directory, /app, root's) could be neither written nor kept.
    expect(env['DEVICES_FILE']?.startsWith(`${volume}/`), `DEVICES_FILE=${env['DEVICES_FILE']}`).toBe(true);
    expect(dockerfile.find((l) => l.startsWith('RUN mkdir') && l.includes('chown node:node'))).toContain(volume);
  });

  it('exposes the ports the settings default to, and health-checks the HTTP one', () => {
    const exposed = dockerfile.find((l) => l.startsWith('EXPOSE '))!.split(/\s+/).slice(1).sort();
    expect(exposed).toEqual([settingDefault('MQTT_PORT'), settingDefault('MQTT_WS_PORT'), settingDefault('HTTP_PORT')].sort());
    expect(dockerfile.find((l) => l.startsWith('HEALTHCHECK '))).toContain(`process.env.HTTP_PORT||${settingDefault('HTTP_PORT')}`);
  });

  it('ships the live page with the compiled code', async () => {
    const pkg = JSON.parse(await read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts['build']).toContain('gateway/http/live.html dist/gateway/http/');
    for (const file of ['live.html', 'live.css', 'live-render.js', 'live-page.js']) {
      expect(pkg.scripts['build'], `the build copies ${file}`).toContain(`gateway/http/${file}`);
      expect(existsSync(resolve(ROOT, 'gateway', 'http', file))).toBe(true);
    }
  });
});

describe('docker-compose.cluster.yml (README "Beyond one machine")', () => {
  let cluster: Compose;
  let haproxy: string;
  const gateways = (): [string, Service][] => Object.entries(cluster.services).filter(([name]) => /^gateway-\d+$/.test(name));
  const clusterEnv = (s: Service): Record<string, string> => Object.fromEntries(Object.entries(s.environment ?? {}).filter(([k]) => k !== 'TZ'));

  beforeAll(async () => {
    cluster = parseYaml(await read('docker-compose.cluster.yml'), { merge: true }) as Compose;
    haproxy = await read('deploy/haproxy.cfg');
  });

  it('runs Redis with AOF fsynced on every write, three gateways, HAProxy, InfluxDB and Grafana', () => {
    expect(Object.keys(cluster.services).sort()).toEqual(['gateway-1', 'gateway-2', 'gateway-3', 'grafana', 'haproxy', 'influxdb', 'redis', 'simulator']);
    const redis = cluster.services['redis']!;
    const args = (redis.command ?? []).join(' ');
    expect(args).toContain('--appendonly yes');
    expect(args).toContain('--appendfsync always');
    expect(redis.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
  });

  it('pins every image it pulls (Redis the version Debian gives the tests, Grafana the one the dashboards are checked against)', async () => {
    for (const [name, s] of Object.entries(cluster.services)) {
      if (s.build) continue;
      expect(s.image, name).toMatch(/^[\w./-]+:\d+\.\d+\.\d+$/);
    }
    expect(cluster.services['redis']!.image).toMatch(/^redis:7\.\d+\.\d+$/);
    expect(cluster.services['grafana']!.image).toBe(service('grafana').image);
    expect(cluster.services['influxdb']!.image).toBe(service('influxdb').image);
  });

  it('mounts only paths that exist, and declares every named volume', () => {
    for (const [name, s] of Object.entries(cluster.services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(resolve(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(cluster.volumes, `${name}: named volume ${source}`).toHaveProperty(source);
      }
    }
  });

  it('health-checks every long-running service and starts each after what it needs is healthy', () => {
    for (const [name, s] of Object.entries(cluster.services)) if (name !== 'simulator') expect(s.healthcheck?.test.length, name).toBeGreaterThan(0);
    for (const [name, s] of gateways()) {
      expect(s.depends_on?.['redis']?.condition, name).toBe('service_healthy');
      expect(s.depends_on?.['influxdb']?.condition, name).toBe('service_healthy');
    }
    for (const [name] of gateways()) expect(cluster.services['haproxy']!.depends_on?.[name]?.condition).toBe('service_healthy');
    expect(cluster.services['simulator']!.depends_on?.['haproxy']?.condition).toBe('service_healthy');
  });

  it('makes each gateway a node of one cluster: valid settings, its own NODE_ID and spool, the same Redis, PARTITIONS, InfluxDB and credentials', () => {
    const known = new Set([...describeSettings().map((s) => s.env), 'TZ']);
    const all = gateways().map(([name, s]) => {
      for (const key of Object.keys(s.environment ?? {})) expect(known.has(key), `${name}: ${key}`).toBe(true);
      return { name, s, settings: loadSettings(clusterEnv(s)) };
    });
    expect(all).toHaveLength(3);
    expect(new Set(all.map((g) => g.settings.nodeId)).size).toBe(3);
    for (const g of all) {
      expect(g.settings.nodeId).toBe(g.name);
      expect(new URL(g.settings.redisUrl).hostname).toBe('redis');
      expect(g.settings.influxUrl).toBe(env('gateway')['INFLUX_URL']);
      // Its own data volume (spool), and the cluster's one credentials file.
      expect(g.s.volumes).toContain(`${g.name}-data:${g.settings.dataDir}`);
      expect(g.s.volumes?.some((v) => v.startsWith('gateway-credentials:') && g.settings.credentialsFile.startsWith(`${v.split(':')[1]}/`))).toBe(true);
      // Devices reach the nodes through HAProxy only.
      expect(g.s.ports ?? []).toEqual([]);
    }
    // One device map for the cluster, in the shared volume (not each node's default in /app).
    for (const g of all) expect(g.s.volumes?.some((v) => v.startsWith('gateway-credentials:') && g.settings.devicesFile.startsWith(`${v.split(':')[1]}/`)), g.name).toBe(true);
    for (const key of ['partitions', 'leaseMs', 'mqttPort', 'mqttWsPort', 'httpPort', 'credentialsFile', 'devicesFile'] as const) expect(new Set(all.map((g) => g.settings[key])).size, key).toBe(1);
    // Only the first node creates the initial credentials; the others start after it.
    expect(all.filter((g) => g.settings.initialCredentials !== '').map((g) => g.name)).toEqual(['gateway-1']);
    for (const g of all.slice(1)) expect(g.s.depends_on?.['gateway-1']?.condition).toBe('service_healthy');
  });

  it('puts HAProxy in front of every gateway\'s MQTT, WebSocket and HTTP ports, health-checked on /healthz, and publishes those ports', () => {
    const settings = loadSettings(clusterEnv(gateways()[0]![1]));
    for (const [name] of gateways()) {
      for (const port of [settings.mqttPort, settings.mqttWsPort, settings.httpPort]) expect(haproxy, `${name}:${port}`).toMatch(new RegExp(`server ${name} ${name}:${port} check`));
    }
    const binds = [...haproxy.matchAll(/^\s*bind :(\d+)$/gm)].map((m) => Number(m[1])).sort();
    expect(binds).toEqual([settings.mqttPort, settings.mqttWsPort, settings.httpPort].sort());
    expect((cluster.services['haproxy']!.ports ?? []).map(containerPort).sort()).toEqual(binds);
    expect(haproxy).toMatch(/check port 8080/);
    expect(haproxy).toMatch(/\/healthz/);
    expect(cluster.services['haproxy']!.volumes).toContain('./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
  });

  it('runs the simulator through HAProxy with the credential the first node created', () => {
    const args = cluster.services['simulator']!.command ?? [];
    expect(args[args.indexOf('--url') + 1]).toBe('mqtt://haproxy:1883');
    const first = loadSettings(clusterEnv(cluster.services['gateway-1']!));
    expect(args[args.indexOf('--password-file') + 1]).toBe(join(initialSecretsDir(first.dataDir), 'simulator'));
    expect(cluster.services['simulator']!.volumes).toContain(`gateway-1-data:${first.dataDir}:ro`);
  });
});
