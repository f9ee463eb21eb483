/**
 * A Gen2+ Shelly's RPC frames on `<prefix>/rpc`: a request (someone's, or the gateway's own seen on
 * the bus), or a device's answer, which goes to `<src of the request>/rpc` (the gateway's:
 * `iot-gateway/rpc`) as `{"id":N,"src":<device id>,"dst":…,"result":{…}}` or, when the device
 * refused it, `"error":{"code":404,"message":"No handler for Switch.Set"}`. An error is handed
 * on (`rpcError`) for the commander to say in the log with the command it answers (commands.ts).
 */
import { recognised } from '../collect.js';
import { isObject, own, parseObject, toNumber, type Json } from '../normalise.js';
import type { DecodeResult, ShellyRpcError } from '../types.js';

const FAMILY = 'shelly';
/** The `src` of the gateway's requests: their answers come on `iot-gateway/rpc`. */
export const GATEWAY_RPC_SRC = 'iot-gateway';

/** What a frame on `<id>/rpc` is; null when it is no RPC frame. */
export function rpcFrame(id: string, text: string): DecodeResult | null {
  const frame = parseObject(text);
  const method = frame ? own(frame, 'method') : undefined;
  if (typeof method === 'string') return recognised(FAMILY, id, `RPC request (${method})`);
  const src = frame ? own(frame, 'src') : undefined;
  const rpcId = frame ? own(frame, 'id') : undefined;
  if (!frame || typeof src !== 'string' || (typeof rpcId !== 'number' && typeof rpcId !== 'string') || (own(frame, 'result') === undefined && own(frame, 'error') === undefined)) return null;
  const error = own(frame, 'error');
  const out = recognised(FAMILY, undefined, `RPC ${error === undefined ? 'response' : 'error response'} from ${src.slice(0, 64)}`);
  // Another client's request (Home Assistant's, answered on `<its src>/rpc`) is not the gateway's to report.
  if (error !== undefined && id === GATEWAY_RPC_SRC && out.outcome === 'recognised') out.rpcError = rpcError(src, rpcId, error);
  return out;
}

/** The error, its text cut short: a device's words go to the log. */
function rpcError(src: string, rpcId: number | string, error: Json): ShellyRpcError {
  const code = isObject(error) ? toNumber(own(error, 'code')) : null;
  const message = isObject(error) ? own(error, 'message') : error;
  const text = typeof message === 'string' ? message : (JSON.stringify(message) ?? '');
  return { src: src.slice(0, 64), rpcId: typeof rpcId === 'string' ? rpcId.slice(0, 64) : rpcId, code: code ?? undefined, message: text.slice(0, 200) };
}
