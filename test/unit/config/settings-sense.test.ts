/**
 * Settings that would leave the gateway running and useless are refused at start (an outside
 * tester found INFLUX_BATCH_SIZE=0 accepted: nothing was ever written to InfluxDB while /readyz
 * said ready), and a variable that looks like a setting but is none is named, with the setting
 * it probably meant (MQTT_PROT, INFLUX_DATABASE, LOGLEVEL were ignored without a word).
 */
import { describe, expect, it } from 'vitest';
import { loadSettings, unknownSettings } from '../../../gateway/config/settings.js';

describe('settings that make no sense', () => {
  it.each([
    ['INFLUX_BATCH_SIZE', '0'],
    ['INFLUX_TIMEOUT_MS', '0'],
    ['INFLUX_TIMEOUT_MS', '10'],
    ['MAX_PAYLOAD_BYTES', '0'],
    ['MAX_TOPIC_LENGTH', '0'],
    ['MAX_TOPIC_LEVELS', '0'],
  ])('%s=%s is refused, naming the setting', (name, value) => {
    expect(() => loadSettings({ [name]: value })).toThrow(new RegExp(`${name}: must be >= \\d+ \\(got ${value}\\)`));
  });

  it('keeps the settings where 0 means something', () => {
    expect(loadSettings({ STATS_INTERVAL_MS: '0', SPOOL_COMMIT_INTERVAL_MS: '0', MAX_PACKET_BYTES: '0' })).toMatchObject({ statsIntervalMs: 0, spoolCommitIntervalMs: 0, maxPacketBytes: 0 });
  });
});

describe('variables that look like settings', () => {
  it('names each, with the setting it is closest to', () => {
    const env = { MQTT_PROT: '1884', INFLUX_DATABASE: 'x', LOGLEVEL: 'debug', MQTT_PORT: '1883', HTTP_PROXY: 'http://proxy', PATH: '/usr/bin', INFLUXDB_HTTP_BIND_ADDRESS: ':8086', HOME: '/root' };
    expect(unknownSettings(env)).toEqual([
      { name: 'INFLUX_DATABASE', closest: 'INFLUX_DB' },
      { name: 'LOGLEVEL', closest: 'LOG_LEVEL' },
      { name: 'MQTT_PROT', closest: 'MQTT_PORT' },
    ]);
  });
});
