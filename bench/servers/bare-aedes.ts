/**
 * The baseline: bare Aedes with no hooks (no validation, rules or storage), on TCP.
 * Prints {"port":N} once listening; stops on SIGTERM.
 */
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { createMessageBus } from '../../gateway/broker/queue.js';

// AEDES_DEQUE=1: the same, with the gateway's message bus (mqemitter's queue on a deque).
const broker = await Aedes.createBroker(process.env['AEDES_DEQUE'] === '1' ? { mq: createMessageBus() } : {});
const server = createServer(broker.handle);
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});
