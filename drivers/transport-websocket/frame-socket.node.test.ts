import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket, WebSocketServer } from 'ws';
import type { ZoneMessage } from '../../kernel/contracts/zone-transport.ts';
import { FrameSocket, preferredBinaryType } from './frame-socket.ts';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const APPEND: ZoneMessage = {
  type: 'append',
  from: 1,
  to: 2,
  term: 7,
  logIndex: 10,
  logTerm: 6,
  commit: 9,
  entries: [{ term: 7, index: 11, type: 'normal', data: new Uint8Array([1, 2, 3]) }],
};

/** A connected pair of `ws` sockets (what a Node 20 zone node uses on both ends), wrapped. */
async function framePair(): Promise<{ client: FrameSocket; server: FrameSocket; clientSocket: NodeWebSocket; serverSocket: NodeWebSocket }> {
  const http = createServer();
  const sockets = new WebSocketServer({ server: http });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<NodeWebSocket>((resolve) => sockets.once('connection', resolve));
  const clientSocket = new NodeWebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const client = new FrameSocket(clientSocket as unknown as WebSocket);
  const serverSocket = await accepted;
  const server = new FrameSocket(serverSocket as unknown as WebSocket);
  cleanups.push(async () => {
    clientSocket.terminate();
    serverSocket.terminate();
    sockets.close();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  await client.opened();
  return { client, server, clientSocket, serverSocket };
}

describe('FrameSocket binary type', () => {
  it('asks a ws socket for Node Buffers, so that ws does not copy each message into a fresh ArrayBuffer', async () => {
    const { client, server, clientSocket, serverSocket } = await framePair();
    expect(clientSocket.binaryType).toBe('nodebuffer');
    expect(serverSocket.binaryType).toBe('nodebuffer');
    const received: ZoneMessage[][] = [];
    const arrived = new Promise<void>((resolve) =>
      server.deliverRaftTo((messages) => {
        received.push(messages);
        resolve();
      }),
    );
    server.send({ kind: 'welcome' });
    expect((await client.nextFrame(10_000)).kind).toBe('welcome');
    client.send({ kind: 'raft', messages: [APPEND] });
    await arrived;
    expect(received).toEqual([[APPEND]]);
    expect(server.isClosed).toBe(false);
  });

  it('keeps the standard arraybuffer on a socket that ignores binary types it does not know', () => {
    // What the standard API does with an unknown enum value (browsers, Deno; undici falls back to 'blob').
    class StandardSocket {
      #binaryType: BinaryType = 'blob';
      get binaryType(): BinaryType {
        return this.#binaryType;
      }
      set binaryType(value: BinaryType) {
        if (value === 'blob' || value === 'arraybuffer') this.#binaryType = value;
      }
    }
    expect(preferredBinaryType(new StandardSocket() as unknown as WebSocket)).toBe('arraybuffer');
  });
});
