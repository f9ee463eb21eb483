import { createServer } from 'node:net';

/**
 * A free port below the kernel's ephemeral range (32768–60999 here), for a gateway that is killed
 * and started again on the same port: meanwhile a port in that range can become the local end of
 * any outgoing connection (the suite makes thousands; a client reconnecting to the dead port can
 * even connect to itself), and the restart failed with EADDRINUSE (cluster-failover, once in CI).
 */
export async function restartablePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
