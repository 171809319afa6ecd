/**
 * One test per override that node-pop3-socket.ts names, against loopback
 * servers: if a node-pop3 upgrade changes what the adapter relies on, these
 * fail rather than the transport's framing going wrong in silence.
 */
import { readFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { NODE_POP3_EVENTS, openPop3Socket } from '../../src/pop3/node-pop3-socket.js';

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

interface Received {
  port: number;
  /** What the client sent, per connection. */
  bytes: Buffer[];
  /** The SNI name of each TLS connection (false: none). */
  names: (string | false | null)[];
}

/** A server that greets with `greeting` and records what it is sent. */
async function startServer(greeting: string | Buffer, tls: boolean): Promise<Received> {
  const received: Received = { port: 0, bytes: [], names: [] };
  const onConnection = (socket: Socket | TLSSocket) => {
    const index = received.bytes.push(Buffer.alloc(0)) - 1;
    if (tls) received.names.push((socket as TLSSocket).servername);
    socket.on('data', (chunk: Buffer) => (received.bytes[index] = Buffer.concat([received.bytes[index]!, chunk])));
    socket.on('error', () => undefined);
    socket.write(greeting);
  };
  const server = tls
    ? createTlsServer({ key: fixture('tls-server-key.pem'), cert: fixture('tls-server.pem') }, onConnection)
    : createServer(onConnection);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  received.port = (server.address() as { port: number }).port;
  return received;
}

function open(host: string, port: number, tls: boolean): { socket: Socket | TLSSocket; setupErrors: unknown[] } {
  const setupErrors: unknown[] = [];
  const socket = openPop3Socket({ host, port, tls, tlsOptions: { ca: fixture('tls-ca.pem') } }, (err) => setupErrors.push(err));
  sockets.push(socket);
  return { socket, setupErrors };
}

function firstData(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
    socket.once('error', reject);
  });
}

describe('openPop3Socket', () => {
  it('override 1: sends the host name as SNI, and none for an IP literal', async () => {
    const server = await startServer('+OK\r\n', true);
    const byName = open('localhost', server.port, true);
    expect(await firstData(byName.socket)).toBe('+OK\r\n');
    const byIp = open('127.0.0.1', server.port, true);
    expect(await firstData(byIp.socket)).toBe('+OK\r\n');
    expect(server.names).toEqual(['localhost', false]);
    // The certificate is checked against the host either way.
    expect((byIp.socket as TLSSocket).authorized).toBe(true);
  });

  it('override 2: logs in with nothing: the server receives no byte', async () => {
    const server = await startServer('+OK ready\r\n', false);
    const { socket } = open('127.0.0.1', server.port, false);
    expect(await firstData(socket)).toBe('+OK ready\r\n');
    await sleep(200);
    expect(server.bytes).toEqual([Buffer.alloc(0)]);
  });

  it('override 3: arms no socket timeout of its own', async () => {
    const server = await startServer('+OK\r\n', false);
    const { socket } = open('127.0.0.1', server.port, false);
    await firstData(socket);
    expect(socket.timeout ?? 0).toBe(0);
  });

  it('override 4: leaves no node-pop3 listener: an -ERR greeting reaches the caller as bytes, not as a thrown error', async () => {
    // node-pop3's own 'data' listener emits an 'error' event for a line
    // starting with '-', which nothing listens to: the process would crash.
    const server = await startServer(Buffer.from('-ERR \xe9 go away\r\n', 'latin1'), false);
    const { socket } = open('127.0.0.1', server.port, false);
    for (const event of NODE_POP3_EVENTS) {
      expect(socket.listenerCount(event), event).toBe(new Socket().listenerCount(event));
    }
    expect(await firstData(socket)).toBe('-ERR \xe9 go away\r\n');
  });

  it('override 4, implicit TLS: only the TLS socket’s own listeners are left', async () => {
    const server = await startServer('+OK\r\n', true);
    const { socket } = open('localhost', server.port, true);
    const baseline = tlsConnect({ host: 'localhost', port: server.port, ca: fixture('tls-ca.pem') });
    sockets.push(baseline);
    baseline.on('error', () => undefined);
    for (const event of NODE_POP3_EVENTS) {
      const own = baseline.listenerCount(event) - (event === 'error' ? 1 : 0);
      expect(socket.listenerCount(event), event).toBe(own);
    }
    expect(await firstData(socket)).toBe('+OK\r\n');
  });

  it('override 5: a failure inside node-pop3’s connect reaches onSetupError, not an unhandled rejection', async () => {
    const { setupErrors } = open('127.0.0.1', 70_000, false);
    await sleep(50);
    expect(setupErrors).toHaveLength(1);
    expect(setupErrors[0]).toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
  });

  it('override 5: a closing server leaves the pending promise silent', async () => {
    const server = createServer((s) => s.destroy());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { socket, setupErrors } = open('127.0.0.1', (server.address() as { port: number }).port, false);
    await new Promise((resolve) => socket.once('close', resolve));
    await sleep(50);
    expect(setupErrors).toEqual([]);
  });

  it('override 6: returns the socket node-pop3 created, connecting, before any byte', () => {
    const { socket } = open('127.0.0.1', 1, false);
    socket.on('error', () => undefined);
    expect(socket).toBeInstanceOf(Socket);
    expect(socket.connecting).toBe(true);
    expect(socket.bytesRead).toBe(0);
  });
});
