// The live page, part 1: its state and how it is drawn (inlined into the page by live.ts).
'use strict';
// Everything from devices is shown with textContent, never as HTML.
const UNITS = { temperature: '°C', humidity: '%', co2: 'ppm', illuminance: 'lx', power: 'W', battery: '%' };
const WORDS = {
  occupancy: ['occupied', 'empty'], motion: ['detected', 'none'], contact: ['open', 'closed'], smoke: ['SMOKE', 'clear'],
};
const ORDER = ['temperature', 'humidity', 'co2', 'illuminance', 'occupancy', 'motion', 'contact', 'smoke', 'power', 'battery', 'keypad'];
const QUIET_MS = 5 * 60 * 1000;
const MAX_FEED = 200;

const devices = new Map();   // device id → state from the server
const rows = new Map();      // device id → <tr>
const zones = new Map();     // "site/zone" → { el, tbody, acts }
const actuators = new Map(); // "site/zone/actuator" → { data, time, rule }
const armed = new Map();     // "site/zone" → armed for the security rules
let activeAlarms = [];       // the rules' active alarms, most severe first
const reported = new Map();  // "site/zone/actuator" → { state, time, device }: what it says it is doing
let alerts = 0;

/** An action over HTTP (acknowledge, arm); a refusal is shown beside the button that asked. */
async function act(button, url, body) {
  button.disabled = true;
  const note = button.parentElement.querySelector('.refused');
  if (note) note.remove();
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body) });
    if (!res.ok) {
      const why = (await res.json().catch(() => ({}))).error || ('HTTP ' + res.status);
      button.after(el('span', 'refused', ' ' + why));
    }
  } catch (e) {
    button.after(el('span', 'refused', ' ' + e.message));
  } finally {
    button.disabled = false;
  }
}

const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  return Math.round(s / 3600) + ' h ago';
}
function describe(data) {
  if (!data || typeof data !== 'object') return String(data);
  return Object.entries(data).map(([k, v]) => k + ' ' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ');
}
function clock(ms) { return new Date(ms).toLocaleTimeString(); }
function show(kind, value) {
  if (typeof value === 'boolean') return (WORDS[kind] || ['yes', 'no'])[value ? 0 : 1];
  if (typeof value === 'number') return (Math.round(value * 10) / 10) + (UNITS[kind] ? ' ' + UNITS[kind] : '');
  return String(value);
}
function alarming(kind, value) {
  return (kind === 'smoke' && value === true) || (kind === 'keypad' && value === 'fail') || (kind === 'contact' && value === true);
}
function stateOf(d) {
  // The gateway heard nothing from it for OFFLINE_AFTER_MS: whatever it last said, it is silent.
  if (d.silent) return 'silent';
  if (d.online === true) return 'online';
  if (d.online === false) return 'offline';
  return Date.now() - d.lastSeen < QUIET_MS ? 'active' : 'quiet';
}

function zoneFor(d) {
  return zoneCard(d.site && d.zone ? d.site + '/' + d.zone : '(not placed yet)');
}

/** A zone's card (made for its first device, its first actuator, or its armed badge). */
function zoneCard(key) {
  let z = zones.get(key);
  if (z) return z;
  const card = el('article', 'zone');
  card.dataset.zone = key;
  const h = el('h2');
  const [site, zone] = key.split('/');
  if (zone !== undefined) { h.append(el('span', 'site', site + ' /'), el('span', '', zone)); } else h.append(el('span', 'site', key));
  const acts = el('div', 'actuators');
  h.append(acts);
  const table = el('table');
  const tbody = el('tbody');
  table.append(tbody);
  card.append(h, table);
  z = { el: card, tbody, acts, key };
  zones.set(key, z);
  const list = $('zones');
  const after = [...list.querySelectorAll('.zone')].find((c) => c.dataset.zone > key);
  list.insertBefore(card, after || null);
  $('no-devices').hidden = true;
  renderActuators(key);
  return z;
}

function renderActuators(zoneKey) {
  const z = zones.get(zoneKey);
  if (!z) return;
  z.acts.replaceChildren();
  if (armed.get(zoneKey)) {
    const badge = el('span', 'act armed', 'armed');
    badge.title = 'armed: doors and motion raise security alerts';
    badge.dataset.armed = 'true';
    z.acts.append(badge);
  }
  const names = new Set();
  for (const key of [...actuators.keys(), ...reported.keys()]) if (key.startsWith(zoneKey + '/')) names.add(key.slice(zoneKey.length + 1));
  for (const name of [...names].sort()) {
    const a = actuators.get(zoneKey + '/' + name);
    if (a) {
      const data = a.data || {};
      const mode = a.data === undefined || a.data === null ? 'unknown' : data.mode || data.state || JSON.stringify(data);
      const label = name === 'hvac' ? 'HVAC ' + mode + (data.setpoint !== undefined ? ' ' + data.setpoint + '°C' : '') : name + ' ' + mode;
      const badge = el('span', 'act ' + (mode === 'on' || mode === 'cool' || mode === 'heat' ? mode : ''), label);
      const said = { pending: 'waiting for it to confirm', confirmed: 'confirmed by the actuator', unresponsive: 'did not confirm: its state is unknown (actuator_unresponsive)', manual: 'changed by hand: the rules leave it alone (manual_override)', untracked: 'nothing to confirm: the rules never commanded it, it does not report its state, or it reported another state than a command it did not confirm' };
      badge.title = (a.rule ? 'by rule ' + a.rule : 'as reported') + (a.time ? ' at ' + clock(a.time) : '') + (a.status ? ' · ' + said[a.status] : '');
      badge.dataset.actuator = name;
      if (a.status) badge.dataset.status = a.status;
      z.acts.append(badge);
    }
    const r = reported.get(zoneKey + '/' + name);
    if (r) {
      const badge = el('span', 'act reported', name + ' reports ' + describe(r.state));
      badge.title = 'reported by ' + r.device + ' at ' + clock(r.time);
      badge.dataset.reported = name;
      z.acts.append(badge);
    }
  }
  if (zoneKey.includes('/')) {
    const on = armed.get(zoneKey) === true;
    const button = el('button', 'act-btn', on ? 'Disarm' : 'Arm');
    button.dataset.arm = on ? 'false' : 'true';
    button.title = (on ? 'disarm ' : 'arm ') + zoneKey + ' (the security rules)';
    const [site, zone] = zoneKey.split('/');
    button.addEventListener('click', () => act(button, 'api/zones/' + encodeURIComponent(site) + '/' + encodeURIComponent(zone) + '/armed', !on));
    z.acts.append(button);
  }
}

function renderAlarms() {
  const list = $('alarms');
  list.replaceChildren();
  if (activeAlarms.length === 0) list.append(el('li', 'empty', 'No active alarm.'));
  for (const a of activeAlarms) {
    const li = el('li', a.severity + (a.acknowledged ? ' acknowledged' : ''));
    li.dataset.alarmId = a.id;
    const where = a.site + '/' + a.zone + (a.device ? '/' + a.device : '') + (a.actuator ? ' ' + a.actuator : '');
    li.append(el('span', 'when', 'since ' + clock(a.firstSeen)));
    li.append(el('div', 'what', a.severity.toUpperCase() + ' · ' + a.rule + ' · ' + where));
    li.append(el('div', '', a.message));
    const detail = el('div', 'detail', '×' + a.count + ' · last ' + clock(a.lastSeen) + (a.acknowledged ? ' · acknowledged' + (a.acknowledgedBy ? ' by ' + a.acknowledgedBy : '') : ''));
    if (!a.acknowledged) {
      const button = el('button', 'act-btn', 'Acknowledge');
      button.dataset.ack = a.id;
      button.addEventListener('click', () => act(button, 'api/alarms/' + encodeURIComponent(a.id) + '/ack'));
      detail.append(' ', button);
    }
    li.append(detail);
    // Restored at a start without its rule (its pack deleted or rejected): nothing will clear it but an operator or the rule back.
    if (a.ruleNotLoaded) {
      const stuck = el('div', 'detail not-loaded', 'rule ' + a.rule + ' is not loaded: this alarm will not clear on its own');
      const button = el('button', 'act-btn', 'Clear');
      button.dataset.clear = a.id;
      button.addEventListener('click', () => act(button, 'api/alarms/' + encodeURIComponent(a.id) + '/ack', { clear: true, note: 'cleared on the live page: its rule is not loaded' }));
      stuck.append(' ', button);
      li.append(stuck);
    }
    list.append(li);
  }
  $('n-alarms').textContent = activeAlarms.length;
}
