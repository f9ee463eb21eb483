/**
 * Simulated native firmware, as each family really talks: its topics, payloads, birth and last
 * will, and, for actuators, its answer to a native command (the state report the firmware sends).
 * Every even-numbered device is a sensor, every odd-numbered one an actuator.
 */
export type NativeFamily = 'zigbee2mqtt' | 'tasmota' | 'shelly' | 'esphome' | 'homeassistant';
export const NATIVE_FAMILIES: readonly NativeFamily[] = ['zigbee2mqtt', 'tasmota', 'shelly', 'esphome', 'homeassistant'];

export interface Message {
  readonly topic: string;
  readonly payload: string;
  readonly retain?: boolean;
}

export interface SimNative {
  /** The native id (friendly name, Tasmota topic, Shelly id or prefix, ESPHome node, discovery identifier). */
  readonly id: string;
  readonly actuator: boolean;
  /** Shelly: Gen2+ (Plus/Pro) rather than Gen1. */
  readonly gen2: boolean;
  /** What the actuator last did. */
  on: boolean;
  mode: string;
  setpoint: number;
  temperature: number;
}

/** One MQTT connection: Zigbee2MQTT is one bridge for all its devices; the others one per device. */
export interface Connection {
  readonly clientId: string;
  readonly will: Message;
  readonly birth: readonly Message[];
  /**
   * What it publishes when it goes away cleanly, retained as its firmware does (a clean disconnect
   * drops the last will, so the will alone would leave it online); default: its will.
   */
  readonly goodbye?: readonly Message[];
  readonly subscribe: readonly string[];
  readonly devices: readonly SimNative[];
}

export interface FamilySim {
  connections(devices: readonly SimNative[]): Connection[];
  /** One report of a device, as its firmware sends it now. */
  report(d: SimNative, now: number, random: () => number): Message[];
  /** What the firmware answers to a command on a topic it subscribes to (none when it is not for it). */
  answer(devices: readonly SimNative[], topic: string, payload: string): Message[];
  /** Where the map must find it: `<family>:<native id>`, and the actuator's channel. */
  nativeKey(d: SimNative): { key: string; channel?: string };
}

const r1 = (n: number) => Math.round(n * 10) / 10;
const onOff = (b: boolean) => (b ? 'ON' : 'OFF');
const json = (o: unknown) => JSON.stringify(o);
const parse = (s: string): Record<string, unknown> => {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};
const drift = (d: SimNative, random: () => number) => (d.temperature = r1(Math.min(35, Math.max(12, d.temperature + (random() - 0.5) * 0.6))));
/** Tasmota's Time: local, no offset. */
const localTime = (now: number) => new Date(now - new Date(now).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);

const zigbee2mqtt: FamilySim = {
  connections: (devices) => [
    {
      clientId: `zigbee2mqtt_${Math.random().toString(16).slice(2, 10)}`,
      will: { topic: 'zigbee2mqtt/bridge/state', payload: json({ state: 'offline' }), retain: true },
      birth: [{ topic: 'zigbee2mqtt/bridge/state', payload: json({ state: 'online' }), retain: true }, ...devices.map((d) => ({ topic: `zigbee2mqtt/${d.id}/availability`, payload: json({ state: 'online' }), retain: true }))],
      // Stopping, the bridge says its devices and then itself are offline.
      goodbye: [...devices.map((d) => ({ topic: `zigbee2mqtt/${d.id}/availability`, payload: json({ state: 'offline' }), retain: true })), { topic: 'zigbee2mqtt/bridge/state', payload: json({ state: 'offline' }), retain: true }],
      subscribe: ['zigbee2mqtt/+/set', 'zigbee2mqtt/+/+/+/set'],
      devices,
    },
  ],
  report: (d, now, random) => {
    if (!d.actuator) return [{ topic: `zigbee2mqtt/${d.id}`, payload: json({ battery: 97, humidity: r1(45 + random() * 10), linkquality: 120, pressure: r1(1005 + random() * 10), temperature: drift(d, random), voltage: 2995 }) }];
    return [{ topic: `zigbee2mqtt/${d.id}`, payload: json({ local_temperature: drift(d, random), system_mode: d.mode, occupied_heating_setpoint: d.setpoint, occupied_cooling_setpoint: d.setpoint, battery: 80, last_seen: new Date(now).toISOString() }) }];
  },
  answer: (devices, topic, payload) => {
    const d = devices.find((x) => topic === `zigbee2mqtt/${x.id}/set`);
    if (!d) return [];
    const set = parse(payload);
    if (typeof set['system_mode'] === 'string') d.mode = set['system_mode'];
    for (const k of ['occupied_heating_setpoint', 'occupied_cooling_setpoint', 'current_heating_setpoint']) if (typeof set[k] === 'number') d.setpoint = set[k];
    if (set['state'] === 'ON' || set['state'] === 'OFF') d.on = set['state'] === 'ON';
    return [{ topic: `zigbee2mqtt/${d.id}`, payload: json({ local_temperature: d.temperature, system_mode: d.mode, occupied_heating_setpoint: d.setpoint, occupied_cooling_setpoint: d.setpoint, state: onOff(d.on) }) }];
  },
  nativeKey: (d) => ({ key: `zigbee2mqtt:${d.id}` }),
};

const tasmota: FamilySim = {
  connections: (devices) =>
    devices.map((d) => ({
      clientId: `DVES_${d.id.slice(-6).toUpperCase()}`,
      will: { topic: `tele/${d.id}/LWT`, payload: 'Offline', retain: true },
      birth: [{ topic: `tele/${d.id}/LWT`, payload: 'Online', retain: true }, { topic: `tele/${d.id}/INFO1`, payload: json({ Info1: { Module: 'Sonoff Basic', Version: '14.3.0(tasmota)' } }) }],
      subscribe: [`cmnd/${d.id}/#`, 'cmnd/tasmotas/#'],
      devices: [d],
    })),
  report: (d, now, random) =>
    d.actuator
      ? [{ topic: `tele/${d.id}/STATE`, payload: json({ Time: localTime(now), Uptime: '0T01:00:00', POWER1: 'OFF', POWER2: onOff(d.on) }) }, { topic: `tele/${d.id}/SENSOR`, payload: json({ Time: localTime(now), ENERGY: { Power: d.on ? 45 : 0, Voltage: 231, Current: d.on ? 0.2 : 0 } }) }]
      : [{ topic: `tele/${d.id}/SENSOR`, payload: json({ Time: localTime(now), AM2301: { Temperature: drift(d, random), Humidity: r1(40 + random() * 15), DewPoint: 9.1 }, BME280: { Pressure: r1(1008 + random() * 5) }, TempUnit: 'C', PressureUnit: 'hPa' }) }],
  answer: (devices, topic, payload) => {
    const m = /^cmnd\/([^/]+)\/POWER(\d*)$/i.exec(topic);
    const d = devices.find((x) => x.id === m?.[1]);
    if (!m || !d) return [];
    const n = m[2] === '' ? '1' : m[2]!;
    const p = payload.trim().toUpperCase();
    if (n === '2') d.on = p === 'TOGGLE' ? !d.on : p === 'ON' || p === '1';
    const state = n === '2' ? onOff(d.on) : 'OFF';
    return [{ topic: `stat/${d.id}/RESULT`, payload: json({ [`POWER${n}`]: state }) }, { topic: `stat/${d.id}/POWER${n}`, payload: state }];
  },
  nativeKey: (d) => ({ key: `tasmota:${d.id}`, ...(d.actuator ? { channel: '2' } : {}) }),
};

const shelly: FamilySim = {
  connections: (devices) =>
    devices.map((d) => ({
      clientId: d.id,
      will: d.gen2 ? { topic: `${d.id}/online`, payload: 'false', retain: true } : { topic: `shellies/${d.id}/online`, payload: 'false', retain: true },
      birth: d.gen2 ? [{ topic: `${d.id}/online`, payload: 'true', retain: true }] : [{ topic: `shellies/${d.id}/online`, payload: 'true', retain: true }, { topic: 'shellies/announce', payload: json({ id: d.id, model: 'SHSW-1', fw_ver: '20230913-114008/v1.14.0-gcb84623' }) }],
      subscribe: d.gen2 ? [`${d.id}/rpc`, `${d.id}/command/#`] : [`shellies/${d.id}/relay/+/command`, 'shellies/command'],
      devices: [d],
    })),
  report: (d, now, random) => {
    if (d.gen2 && d.actuator) return [{ topic: `${d.id}/status/switch:0`, payload: json({ id: 0, source: 'init', output: d.on, apower: d.on ? 11.5 : 0, voltage: 230.1, current: d.on ? 0.05 : 0, temperature: { tC: 42.1, tF: 107.8 } }) }];
    if (d.gen2) return [{ topic: `${d.id}/events/rpc`, payload: json({ src: d.id, dst: `${d.id}/events`, method: 'NotifyStatus', params: { ts: now / 1000, 'temperature:0': { id: 0, tC: drift(d, random), tF: 70 }, 'humidity:0': { id: 0, rh: r1(45 + random() * 10) } } }) }];
    if (d.actuator) return [{ topic: `shellies/${d.id}/relay/0`, payload: d.on ? 'on' : 'off' }, { topic: `shellies/${d.id}/relay/0/power`, payload: d.on ? '45.2' : '0.00' }];
    return [{ topic: `shellies/${d.id}/sensor/temperature`, payload: String(drift(d, random)) }, { topic: `shellies/${d.id}/sensor/humidity`, payload: String(r1(45 + random() * 10)) }, { topic: `shellies/${d.id}/sensor/battery`, payload: '98' }];
  },
  answer: (devices, topic, payload) => {
    for (const d of devices) {
      if (!d.gen2 && topic === `shellies/${d.id}/relay/0/command`) {
        const p = payload.trim();
        d.on = p === 'toggle' ? !d.on : p === 'on';
        return [{ topic: `shellies/${d.id}/relay/0`, payload: d.on ? 'on' : 'off' }];
      }
      if (d.gen2 && topic === `${d.id}/rpc`) {
        const frame = parse(payload);
        const params = (frame['params'] ?? {}) as Record<string, unknown>;
        if (frame['method'] !== 'Switch.Set' || typeof params['on'] !== 'boolean') return [];
        const was = d.on;
        d.on = params['on'];
        const src = typeof frame['src'] === 'string' ? frame['src'] : 'user';
        return [{ topic: `${src}/rpc`, payload: json({ id: frame['id'], src: d.id, dst: src, result: { was_on: was } }) }, { topic: `${d.id}/status/switch:0`, payload: json({ id: 0, source: 'MQTT', output: d.on, apower: d.on ? 11.5 : 0 }) }];
      }
    }
    return [];
  },
  nativeKey: (d) => ({ key: `shelly:${d.id}`, ...(d.actuator ? { channel: '0' } : {}) }),
};

const esphome: FamilySim = {
  connections: (devices) =>
    devices.map((d) => ({
      clientId: `${d.id}-a1b2c3`,
      will: { topic: `${d.id}/status`, payload: 'offline', retain: true },
      birth: [
        { topic: `${d.id}/status`, payload: 'online', retain: true },
        // ESPHome announces its entities by discovery: the sensor's class gives its kind.
        { topic: `homeassistant/sensor/${d.id}/room/config`, payload: json({ dev_cla: 'temperature', unit_of_meas: '°C', stat_cla: 'measurement', name: 'Room', stat_t: `${d.id}/sensor/room/state`, avty_t: `${d.id}/status`, uniq_id: `${d.id}sensorroom`, dev: { ids: `${d.id}-mac`, name: d.id, sw: 'esphome v2025.10.0', mdl: 'esp32dev' } }), retain: true },
      ],
      subscribe: [`${d.id}/climate/+/+/command`, `${d.id}/switch/+/command`, 'homeassistant/status'],
      devices: [d],
    })),
  report: (d, _now, random) =>
    d.actuator
      ? [{ topic: `${d.id}/climate/hvac/current_temperature/state`, payload: String(drift(d, random)) }, { topic: `${d.id}/climate/hvac/mode/state`, payload: d.mode }, { topic: `${d.id}/climate/hvac/target_temperature/state`, payload: d.setpoint.toFixed(1) }]
      : [{ topic: `${d.id}/sensor/room/state`, payload: drift(d, random).toFixed(1) }, { topic: `${d.id}/binary_sensor/hall_motion/state`, payload: onOff(random() < 0.2) }],
  answer: (devices, topic, payload) => {
    const m = /^([^/]+)\/climate\/hvac\/(mode|target_temperature)\/command$/.exec(topic);
    const d = devices.find((x) => x.id === m?.[1]);
    if (!m || !d) return [];
    if (m[2] === 'mode') d.mode = payload.trim();
    else if (Number.isFinite(Number(payload))) d.setpoint = Number(payload);
    return [{ topic: `${d.id}/climate/hvac/${m[2]}/state`, payload: m[2] === 'mode' ? d.mode : d.setpoint.toFixed(1) }];
  },
  nativeKey: (d) => ({ key: `esphome:${d.id}`, ...(d.actuator ? { channel: 'hvac' } : {}) }),
};

const homeassistant: FamilySim = {
  connections: (devices) =>
    devices.map((d) => {
      const dev = { ids: [d.id], name: d.id, mf: 'DIY' };
      const base = `home/${d.id}`;
      const birth: Message[] = d.actuator
        ? [{ topic: `homeassistant/climate/${d.id}/thermostat/config`, payload: json({ name: 'Thermostat', mode_stat_t: `${base}/mode`, mode_cmd_t: `${base}/mode/set`, temp_stat_t: `${base}/target`, temp_cmd_t: `${base}/target/set`, curr_temp_t: `${base}/env`, curr_temp_tpl: '{{ value_json.temp }}', modes: ['off', 'cool', 'heat'], avty_t: `${base}/status`, dev }), retain: true }]
        : [
            { topic: `homeassistant/sensor/${d.id}/temperature/config`, payload: json({ name: 'Temperature', dev_cla: 'temperature', unit_of_meas: '°C', stat_t: `${base}/env`, val_tpl: '{{ value_json.temp }}', avty_t: `${base}/status`, dev }), retain: true },
            { topic: `homeassistant/sensor/${d.id}/humidity/config`, payload: json({ name: 'Humidity', dev_cla: 'humidity', unit_of_meas: '%', stat_t: `${base}/env`, val_tpl: "{{ value_json['hum'] | float }}", avty_t: `${base}/status`, dev }), retain: true },
          ];
      return { clientId: d.id, will: { topic: `${base}/status`, payload: 'offline', retain: true }, birth: [...birth, { topic: `${base}/status`, payload: 'online', retain: true }], subscribe: [`${base}/+/set`, 'homeassistant/status'], devices: [d] };
    }),
  report: (d, _now, random) => [{ topic: `home/${d.id}/env`, payload: json({ temp: drift(d, random), hum: r1(45 + random() * 10) }) }, ...(d.actuator ? [{ topic: `home/${d.id}/mode`, payload: d.mode }] : [])],
  answer: (devices, topic, payload) => {
    const m = /^home\/([^/]+)\/(mode|target)\/set$/.exec(topic);
    const d = devices.find((x) => x.id === m?.[1]);
    if (!m || !d) return [];
    if (m[2] === 'mode') d.mode = payload.trim();
    else if (Number.isFinite(Number(payload))) d.setpoint = Number(payload);
    return [{ topic: `home/${d.id}/${m[2]}`, payload: m[2] === 'mode' ? d.mode : String(d.setpoint) }];
  },
  nativeKey: (d) => ({ key: `homeassistant:${d.id}`, ...(d.actuator ? { channel: 'thermostat' } : {}) }),
};

export const FAMILY_SIMS: Readonly<Record<NativeFamily, FamilySim>> = { zigbee2mqtt, tasmota, shelly, esphome, homeassistant };

/** The native ids of a simulated fleet: `<prefix>-<n>` in the family's own style. */
export function nativeFleet(family: NativeFamily, count: number, prefix: string): SimNative[] {
  return Array.from({ length: count }, (_, i) => {
    const actuator = i % 2 === 1;
    const gen2 = family === 'shelly' && i % 4 >= 2;
    const id =
      family === 'tasmota' ? `${prefix}_${(0xa1b2c0 + i).toString(16).toUpperCase()}` : family === 'shelly' ? `${gen2 ? 'shellyplus1pm' : actuator ? 'shelly1' : 'shellyht'}-${prefix}${(0xaabb00 + i).toString(16)}` : `${prefix}-${family === 'zigbee2mqtt' ? (actuator ? 'trv' : 'weather') : 'node'}-${i}`;
    return { id, actuator, gen2, on: false, mode: 'off', setpoint: 21, temperature: 21 + (i % 5) * 0.3 };
  });
}
