/**
 * A Gen2+ Shelly's RPC frames on `<prefix>/rpc`: a request (someone's, or the gateway's own seen on
 * the bus), or a device's answer, which goes to `<src of the request>/rpc` (the gateway's:
 * `iot-gateway/rpc`) as `{"id":N,"src":<device id>,"dst":…,"result":{…}}` or, when the device
 * refused it, `"error":{"code":404,"message":"No handler for Switch.Set"}`: counted, not a dead letter.
 */
import { recognised } from '../collect.js';
import { own, parseObject } from '../normalise.js';
import type { DecodeResult } from '../types.js';

const FAMILY = 'shelly';

/** What a frame on `<id>/rpc` is; null when it is no RPC frame. */
export function rpcFrame(id: string, text: string): DecodeResult | null {
  const frame = parseObject(text);
  const method = frame ? own(frame, 'method') : undefined;
  if (typeof method === 'string') return recognised(FAMILY, id, `RPC request (${method})`);
  const src = frame ? own(frame, 'src') : undefined;
  const rpcId = frame ? own(frame, 'id') : undefined;
  if (!frame || typeof src !== 'string' || (typeof rpcId !== 'number' && typeof rpcId !== 'string') || (own(frame, 'result') === undefined && own(frame, 'error') === undefined)) return null;
  return recognised(FAMILY, undefined, `RPC ${own(frame, 'error') === undefined ? 'response' : 'error response'} from ${src.slice(0, 64)}`);
}

