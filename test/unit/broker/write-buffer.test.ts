/** A connection's write buffer raised alone (gateway/broker/broker.ts setWriteBuffer), on a real socket pair. */
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { setWriteBuffer } from '../../../gateway/broker/broker.js';

describe('setWriteBuffer', () => {
  it('raises what a socket buffers unsent before it reports full, and leaves its read buffer as it was', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    const socket = await accepted;
    const readBefore = socket.readableHighWaterMark;
    setWriteBuffer(socket, 1024 * 1024);
    expect(socket.writableHighWaterMark).toBe(1024 * 1024);
    expect(socket.readableHighWaterMark).toBe(readBefore);
    client.destroy();
    socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
