/**
 * Edits of the device map file that keep what a person wrote (comments, order, style): place a
 * native device, take it out. The result is checked as the gateway would load it before it is
 * written (atomically), so an edit can never leave a broken map behind.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isMap, parseDocument, type Document } from 'yaml';
import { parseDeviceMap, parseNativeKey, type DeviceMap } from './map.js';

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
