import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../gateway/config/settings.js';

describe('the cluster settings', () => {
  it('leave a gateway on its own by default', () => {
    const s = loadSettings({});
    expect(s).toMatchObject({ redisUrl: '', nodeId: '', partitions: 16, leaseMs: 4000, mqttHeartbeatMs: 1000 });
  });

  it('take a redis:// URL, a node id, partitions and lease times', () => {
    const s = loadSettings({ REDIS_URL: 'redis://redis:6379', NODE_ID: 'gw-2', PARTITIONS: '32', LEASE_MS: '3000', MQTT_HEARTBEAT_MS: '500' });
    expect(s).toMatchObject({ redisUrl: 'redis://redis:6379', nodeId: 'gw-2', partitions: 32, leaseMs: 3000, mqttHeartbeatMs: 500 });
  });

  it.each([
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: 'http://redis:6379' }, /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ NODE_ID: 'a b' }, /NODE_ID: must match pattern/],
    [{ PARTITIONS: '0' }, /PARTITIONS: must be >= 1/],
    [{ LEASE_MS: '10' }, /LEASE_MS: must be >= 100/],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(() => loadSettings(env)).toThrow(message);
  });
});
