/**
 * Edits of the device map file that keep what a person wrote (comments, order, style): place a
 * native device, take it out, follow its rename. The result is checked as the gateway would load it before it is
 * written (atomically), so an edit can never leave a broken map behind.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { deviceName, parseDeviceMap, parseNativeKey, type DeviceMap } from './map.js';

export interface Assignment {
  readonly site: string;
  readonly zone: string;
  readonly device?: string;
  readonly channel?: string;
}

const HEADER = ` The device map (DEVICES_FILE): which native device sits where, and which actuator is which
 native device. See devices.example.yaml for every form; the gateway reloads this file on change.
`;

async function load(file: string): Promise<Document> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`${file}: not valid YAML: ${doc.errors[0]?.message ?? ''}`);
  if (text.trim() === '') doc.commentBefore = HEADER;
  return doc;
}

async function save(file: string, doc: Document): Promise<DeviceMap> {
  const text = doc.toString({ lineWidth: 0 });
  const map = parseDeviceMap(file, text);
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
  return map;
}

/** Places `<family>:<native id>` (replacing any placement it had); returns the map as it now is. */
export async function assignDevice(file: string, key: string, a: Assignment): Promise<DeviceMap> {
  const id = parseNativeKey(key);
  if (typeof id === 'string') throw new Error(`${key}: ${id}`);
  const doc = await load(file);
  if (!isMap(doc.get('devices'))) doc.set('devices', doc.createNode({}));
  const entry = doc.createNode({ site: a.site, zone: a.zone, ...(a.device ? { device: a.device } : {}), ...(a.channel ? { channel: a.channel } : {}) });
  entry.flow = true;
  doc.setIn(['devices', key], entry);
  return save(file, doc);
}

/** Takes `<family>:<native id>` out of the map: it waits for a zone again. False when it was not there. */
export async function unassignDevice(file: string, key: string): Promise<boolean> {
  const doc = await load(file);
  if (!doc.hasIn(['devices', key])) return false;
  doc.deleteIn(['devices', key]);
  await save(file, doc);
  return true;
}

/**
 * A native device renamed (Zigbee2MQTT): the entries that name `from` (`<family>:<native id>`)
 * name `to`; a placement without `device:` gets the contract device it had (the old name's
 * default). False when the file names no `from` (followed already, by another node sharing it).
 */
export async function renameNative(file: string, from: string, to: string): Promise<boolean> {
  const [fromId, toId] = [parseNativeKey(from), parseNativeKey(to)];
  if (typeof fromId === 'string') throw new Error(`${from}: ${fromId}`);
  if (typeof toId === 'string') throw new Error(`${to}: ${toId}`);
  const doc = await load(file);
  let changed = false;
  const devices = doc.get('devices');
  const pair = isMap(devices) ? devices.items.find((p) => isScalar(p.key) && p.key.value === from) : undefined;
  if (isMap(devices) && pair && isScalar(pair.key)) {
    if (devices.items.some((p) => isScalar(p.key) && p.key.value === to)) throw new Error(`devices.${JSON.stringify(to)} is there already`);
    pair.key.value = to;
    const kept = deviceName(fromId.nativeId);
    if (kept !== deviceName(toId.nativeId)) for (const entry of isSeq(pair.value) ? pair.value.items : [pair.value]) if (isMap(entry) && !entry.has('device')) entry.set('device', kept);
    changed = true;
  }
  const actuators = doc.get('actuators');
  for (const p of isMap(actuators) ? actuators.items : []) {
    const device: unknown = isMap(p.value) ? p.value.get('device', true) : p.value;
    if (isScalar(device) && device.value === from) [device.value, changed] = [to, true];
  }
  if (changed) await save(file, doc);
  return changed;
}
