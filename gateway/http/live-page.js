// The live page, part 2: what the server sends applied to the state, the filter, the connection.
'use strict';
function applyReported(map) {
  const touched = new Set();
  for (const [key, r] of Object.entries(map || {})) {
    reported.set(key, r);
    const [site, zone] = key.split('/');
    zoneFor({ site, zone });
    touched.add(site + '/' + zone);
  }
  for (const z of touched) renderActuators(z);
}

function applyWaiting(list) {
  const box = $('waiting');
  const ul = box.querySelector('ul');
  ul.replaceChildren();
  for (const w of list || []) {
    const li = el('li');
    li.dataset.device = w.key;
    li.append(el('div', 'what', w.key), el('div', 'detail', (w.kinds.length ? w.kinds.join(', ') : 'no known kind yet') + (w.unmapped ? ' · ' + w.unmapped + ' unmapped keys' : '') + ' · last seen ' + ago(w.lastSeen)));
    li.append(el('div', 'detail', 'npm run devices -- assign ' + w.key + ' --site S --zone Z --redrive'));
    ul.append(li);
  }
  box.hidden = ul.children.length === 0;
}

function renderDevice(d, changedKinds) {
  let tr = rows.get(d.device);
  const z = zoneFor(d);
  if (tr && tr.parentElement !== z.tbody) { tr.remove(); tr = undefined; }
  if (!tr) {
    tr = el('tr');
    tr.dataset.device = d.device;
    tr.append(el('td', 'dev'), el('td', 'vals'), el('td', 'ago'));
    rows.set(d.device, tr);
    const after = [...z.tbody.children].find((r) => r.dataset.device > d.device);
    z.tbody.insertBefore(tr, after || null);
  }
  const [devCell, valCell, agoCell] = tr.children;
  const state = stateOf(d);
  devCell.replaceChildren(el('span', 'dot ' + state), el('span', '', d.device));
  devCell.title = state === 'silent' ? 'silent: nothing heard since ' + clock(d.lastSeen) : state;
  tr.dataset.state = state;
  valCell.replaceChildren();
  const kinds = Object.keys(d.readings).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  for (const kind of kinds) {
    const r = d.readings[kind];
    const v = el('span', 'val' + (alarming(kind, r.value) ? ' alarm' : '') + (changedKinds && changedKinds.has(kind) ? ' flash' : ''));
    v.dataset.kind = kind;
    v.title = kind + ' at ' + clock(r.time);
    v.append(el('span', 'k', kind), el('span', 'v', show(kind, r.value)));
    valCell.append(v);
  }
  agoCell.textContent = ago(d.lastSeen);
  agoCell.dataset.t = String(d.lastSeen);
}

function applyDevice(d) {
  const before = devices.get(d.device);
  const changed = new Set();
  for (const [kind, r] of Object.entries(d.readings)) {
    if (!before || !before.readings[kind] || before.readings[kind].time !== r.time) changed.add(kind);
  }
  devices.set(d.device, d);
  renderDevice(d, before ? changed : undefined);
}

/** A device the map no longer places (renamed away, unassigned): its row goes, and its zone's card once empty. */
function removeDevice(id) {
  devices.delete(id);
  const tr = rows.get(id);
  rows.delete(id);
  if (!tr) return;
  const z = [...zones.values()].find((c) => c.tbody === tr.parentElement);
  tr.remove();
  // A card with an actuator's badge or armed stays (its Arm button alone does not keep it).
  if (!z || z.tbody.children.length > 0 || z.acts.querySelector('.act')) return;
  z.el.remove();
  zones.delete(z.key);
  $('no-devices').hidden = zones.size > 0;
}

function feedItem(e) {
  const li = el('li', e.kind + (e.severity ? ' ' + e.severity : ''));
  li.dataset.eventId = e.id;
  li.append(el('span', 'when', clock(e.time)));
  if (e.kind === 'command') {
    li.append(el('div', 'what', 'Command · ' + e.actuator + ' in ' + e.site + '/' + e.zone), el('div', '', describe(e.data)), el('div', 'detail', 'rule ' + e.rule));
  } else if (e.kind === 'alert') {
    li.append(el('div', 'what', e.severity.toUpperCase() + ' alert · ' + e.site + '/' + e.zone), el('div', '', e.message), el('div', 'detail', 'rule ' + e.rule + ' · device ' + e.device));
  } else if (e.kind === 'alarm') {
    li.classList.add(e.transition);
    li.append(el('div', 'what', 'Alarm ' + e.transition + ' · ' + e.rule + ' · ' + e.site + '/' + e.zone), el('div', '', e.message), el('div', 'detail', '×' + e.count + (e.reason ? ' · ' + e.reason : '')));
  } else {
    li.append(el('div', 'what', 'Dead letter · ' + e.reason), el('div', 'detail', e.topic + ': ' + e.detail));
  }
  return li;
}

function applyEvents(events) {
  const list = $('events');
  for (const e of events) {
    if (list.querySelector('[data-event-id="' + CSS.escape(e.id) + '"]')) continue;
    if (e.kind === 'alert') alerts++;
    list.prepend(feedItem(e));
  }
  while (list.children.length > MAX_FEED) list.lastElementChild.remove();
}

function applyArmed(map) {
  for (const [key, on] of Object.entries(map || {})) {
    armed.set(key, on);
    // An armed zone shows its badge even before any of its devices reports.
    if (on) zoneCard(key);
    renderActuators(key);
  }
}

function applyActuators(map) {
  const touched = new Set();
  for (const [key, a] of Object.entries(map || {})) {
    actuators.set(key, a);
    touched.add(key.split('/').slice(0, 2).join('/'));
  }
  for (const z of touched) {
    zoneCard(z);
    renderActuators(z);
  }
}

function refreshStats() {
  let online = 0;
  for (const d of devices.values()) { const s = stateOf(d); if (s === 'online' || s === 'active') online++; }
  $('n-devices').textContent = devices.size;
  $('n-online').textContent = online;
  $('n-zones').textContent = [...zones.keys()].filter((k) => !k.startsWith('(')).length;
  $('n-alerts').textContent = alerts;
}

let filtered = false;
function applyFilter() {
  const q = $('filter').value.trim().toLowerCase();
  if (!q && !filtered) return; // nothing to show or hide: keep updates cheap
  filtered = Boolean(q);
  for (const z of zones.values()) {
    let any = false;
    for (const tr of z.tbody.children) {
      const hit = !q || (z.key + '/' + tr.dataset.device).toLowerCase().includes(q);
      tr.hidden = !hit;
      any = any || hit;
    }
    // Without a filter every zone shows, one with no device yet (armed, or with an actuator) too.
    z.el.hidden = Boolean(q) && !any;
  }
}
$('filter').addEventListener('input', applyFilter);

function connect() {
  const source = new EventSource('live/events');
  const conn = $('conn');
  source.addEventListener('open', () => { conn.dataset.state = 'live'; conn.textContent = 'live'; });
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) { conn.dataset.state = 'reconnecting'; conn.textContent = 'reconnecting…'; return; }
    // Closed for good: the gateway answered other than with a stream (503: too many viewers). Ask why, retry later.
    conn.dataset.state = 'reconnecting';
    fetch('live/events', { method: 'HEAD' }).then((r) => {
      const wait = Number(r.headers.get('retry-after')) || 10;
      conn.textContent = r.status === 503 ? 'too many viewers; retrying in ' + wait + ' s' : 'disconnected (HTTP ' + r.status + '); retrying in ' + wait + ' s';
      setTimeout(connect, wait * 1000);
    }, () => { conn.textContent = 'gateway unreachable; retrying in 10 s'; setTimeout(connect, 10000); });
  });
  source.addEventListener('snapshot', (m) => {
    const s = JSON.parse(m.data);
    devices.clear(); rows.clear(); zones.clear(); actuators.clear(); armed.clear(); reported.clear(); alerts = 0; filtered = true;
    $('zones').replaceChildren($('no-devices'));
    $('no-devices').hidden = false;
    $('events').replaceChildren();
    applyActuators(s.actuators);
    for (const d of s.devices) applyDevice(d);
    applyArmed(s.armed);
    activeAlarms = s.alarms || []; renderAlarms();
    applyReported(s.reported);
    applyWaiting(s.waiting);
    applyEvents(s.events);
    applyFilter(); refreshStats();
  });
  source.addEventListener('update', (m) => {
    const u = JSON.parse(m.data);
    applyActuators(u.actuators);
    for (const id of u.removed || []) removeDevice(id);
    for (const d of u.devices) applyDevice(d);
    applyArmed(u.armed);
    if (u.alarms) { activeAlarms = u.alarms; renderAlarms(); }
    applyReported(u.reported);
    if (u.waiting) applyWaiting(u.waiting);
    applyEvents(u.events);
    applyFilter(); refreshStats();
  });
}

setInterval(() => {
  for (const cell of document.querySelectorAll('td.ago')) cell.textContent = ago(Number(cell.dataset.t));
  refreshStats();
}, 5000);
connect();
