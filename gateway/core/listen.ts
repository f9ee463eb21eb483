import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { GatewayError } from './errors.js';

/**
 * Listens on `host:port` (0: any free port) and resolves with the port bound; a port that cannot
 * be bound is GW_ERR_LISTEN naming the setting, with the way out when it is in use.
 */
export function listenOn(server: Server, host: string, port: number, setting: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new GatewayError('GW_ERR_LISTEN', `${setting}=${port} on ${host}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (the port is in use; pick another or 0 for any free port)' : ''}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
