import type { IncomingMessage } from 'node:http';
import { addressedToLoopback, isLoopbackName } from '../core/loopback.js';

/**
 * Why a WebSocket upgrade is refused (undefined: it is not). Browsers let any web page open
 * ws://127.0.0.1 and send no credentials of their own, so while anonymous clients are admitted (no
 * credentials yet, on loopback) a page from elsewhere would be an admin of the broker: it could
 * disarm zones, fake smoke, read the bus. Such a page says where it comes from (Origin); a page
 * rebound to 127.0.0.1 by DNS still names its own host (Host). Clients that are not browsers send
 * no Origin. Once credentials are required, a page must know one, as any other client.
 */
export function webSocketRefusal(req: IncomingMessage, anonymousAllowed: boolean): string | undefined {
  const origin = req.headers.origin;
  if (origin === undefined || !anonymousAllowed) return undefined;
  let from: string;
  try {
    from = new URL(origin).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return `a browser page with an unreadable Origin (${JSON.stringify(origin)})`;
  }
  if (!isLoopbackName(from)) return `a web page from ${origin}: anonymous clients are admitted (no credentials yet), so only pages on this machine may connect over WebSocket; add a credential to connect from elsewhere`;
  const host = req.headers.host;
  if (!addressedToLoopback(host)) return `a web page addressed to ${JSON.stringify(host)}, not this machine's loopback (DNS rebinding)`;
  return undefined;
}
