import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../helpers/fault-proxy.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What one side of a connection saw: its bytes and how the connection ended. */
interface Seen {
  socket: Socket;
  data: () => Buffer;
  ended: Promise<boolean>;
  closed: Promise<void>;
  error: () => NodeJS.ErrnoException | undefined;
  /** Resolves once `n` bytes have arrived. */
  bytes(n: number): Promise<Buffer>;
}

function watch(socket: Socket): Seen {
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  let waiters: Array<{ n: number; resolve: (b: Buffer) => void }> = [];
  let ended = false;
  socket.setNoDelay(true);
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    const all = Buffer.concat(chunks);
    waiters = waiters.filter((w) => (all.length >= w.n ? (w.resolve(all), false) : true));
  });
  socket.on('end', () => (ended = true));
  socket.on('error', (err) => (error = err));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    data: () => Buffer.concat(chunks),
    ended: closed.then(() => ended),
    closed,
    error: () => error,
    bytes(n) {
      const all = Buffer.concat(chunks);
      if (all.length >= n) return Promise.resolve(all);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

/** A server whose accepted sockets the test drives by hand. */
interface Scripted {
  server: Server;
  port: number;
  accepted: Seen[];
  next(): Promise<Seen>;
  close(): Promise<void>;
}

async function scriptedServer(onAccept?: (s: Socket) => void): Promise<Scripted> {
  const accepted: Seen[] = [];
  let waiter: ((s: Seen) => void) | undefined;
  const server = createServer((socket) => {
    const seen = watch(socket);
    accepted.push(seen);
    onAccept?.(socket);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(seen);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let taken = 0;
  return {
    server,
    port,
    accepted,
    next() {
      const ready = accepted[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => {
        waiter = (s) => {
          taken++;
          resolve(s);
        };
      });
    },
    async close() {
      for (const s of accepted) s.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function dial(port: number): Promise<Seen> {
  const socket = connect(port, '127.0.0.1');
  const seen = watch(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return seen;
}

/** Writes each piece in its own TCP segment: the proxy must see them as separate chunks. */
async function writeApart(socket: Socket, pieces: string[]): Promise<void> {
  for (const piece of pieces) {
    await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
    await sleep(30);
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  options: { delayMs?: number; bandwidthBytesPerSec?: number; idleCloseMs?: number; firstReplyDelayMs?: number; echo?: boolean } = {},
) {
  const server = await scriptedServer(options.echo ? (s) => s.pipe(s) : undefined);
  cleanups.push(() => server.close());
  const proxy = await FaultProxy.start({
    targetPort: server.port,
    delayMs: options.delayMs,
    bandwidthBytesPerSec: options.bandwidthBytesPerSec,
    idleCloseMs: options.idleCloseMs,
    firstReplyDelayMs: options.firstReplyDelayMs,
  });
  cleanups.push(() => proxy.stop());
  return { server, proxy };
}

// A broken rule shows up as a connection that never ends: fail in seconds, not at the global timeout.
describe('FaultProxy', { timeout: 10_000 }, () => {
  it('forwards both ways unchanged and counts connections', async () => {
    const { server, proxy } = await setup();
    const client = await dial(proxy.port);
    const upstream = await server.next();
    const big = Buffer.alloc(3 * 1024 * 1024, 'abcdefgh');
    client.socket.write(big);
    expect((await upstream.bytes(big.length)).equals(big)).toBe(true);
    upstream.socket.write('reply\r\n');
    expect((await client.bytes(7)).toString()).toBe('reply\r\n');
    client.socket.end();
    expect(await upstream.ended).toBe(true);
    expect(proxy.connections).toBe(1);
    expect(proxy.fired).toBe(0);
  });

  it('finds a pattern split across chunks and closes right after it', async () => {
    const { server, proxy } = await setup();
    proxy.addRule({ direction: 'down', after: 'MARKER', action: 'close' });
    const client = await dial(proxy.port);
    const upstream = await server.next();
    await writeApart(upstream.socket, ['aaaMAR', 'KERbbb', 'ccc']);
    expect(await client.ended).toBe(true);
    expect(client.data().toString()).toBe('aaaMARKER');
    expect(client.error()).toBeUndefined();
    expect(proxy.fired).toBe(1);
    expect(await upstream.ended).toBe(true);
  });

  it('lets `offset` more bytes pass, across later chunks', async () => {
    const { server, proxy } = await setup();
    proxy.addRule({ direction: 'down', after: 'MARKER', offset: 5, action: 'close' });
    const client = await dial(proxy.port);
    const upstream = await server.next();
    await writeApart(upstream.socket, ['xxMARKER12', '34', '5678']);
    await client.closed;
    expect(client.data().toString()).toBe('xxMARKER12345');
  });

  it('applies a rule to the client->server direction', async () => {
    const { server, proxy } = await setup();
    const client = await dial(proxy.port);
    const upstream = await server.next();
    proxy.addRule({ direction: 'up', after: 'A2 APPEND', offset: 3, action: 'close' });
    await writeApart(client.socket, ['A1 NOOP\r\n', 'A2 APP', 'END INBOX {10+}\r\n']);
    expect(await upstream.ended).toBe(true);
    expect(upstream.data().toString()).toBe('A1 NOOP\r\nA2 APPEND IN');
    expect(await client.ended).toBe(true);
  });

  it('close gives the peers a FIN, reset an ECONNRESET', async () => {
    const { server, proxy } = await setup();
    proxy.addRule({ direction: 'down', after: 'cut', action: 'close' });
    const closing = await dial(proxy.port);
    (await server.next()).socket.write('before cut after');
    expect(await closing.ended).toBe(true);
    expect(closing.error()).toBeUndefined();

    proxy.addRule({ direction: 'down', after: 'cut', action: 'reset' });
    const resetting = await dial(proxy.port);
    const upstream = await server.next();
    upstream.socket.write('before cut after');
    await resetting.closed;
    expect(resetting.error()?.code).toBe('ECONNRESET');
    expect(await resetting.ended).toBe(false);
    expect(resetting.data().toString()).toBe('before cut');
    await upstream.closed;
    expect(upstream.error()?.code).toBe('ECONNRESET');
    expect(proxy.fired).toBe(2);
  });

  it('stall forwards nothing more either way and keeps both sockets open', async () => {
    const { server, proxy } = await setup();
    proxy.addRule({ direction: 'down', after: '+OK go', action: 'stall' });
    const client = await dial(proxy.port);
    const upstream = await server.next();
    upstream.socket.write('+OK go then more');
    await client.bytes(6);
    client.socket.write('RETR 1\r\n');
    upstream.socket.write('still talking');
    await sleep(200);
    expect(client.data().toString()).toBe('+OK go');
    expect(upstream.data().length).toBe(0);
    expect(client.socket.destroyed || upstream.socket.destroyed).toBe(false);
    expect(proxy.fired).toBe(1);
    await proxy.stop();
    await client.closed;
    await upstream.closed;
  });

  it('drop-and-close discards what is still on the delayed wire', async () => {
    const { server, proxy } = await setup({ delayMs: 300 });
    proxy.addRule({ direction: 'down', after: 'MARKER', action: 'drop-and-close' });
    const client = await dial(proxy.port);
    (await server.next()).socket.write('hello MARKER tail');
    expect(await client.ended).toBe(true);
    expect(client.data().length).toBe(0);
  });

  it('close under delay delivers the bytes before the fire point first', async () => {
    const { server, proxy } = await setup({ delayMs: 100 });
    proxy.addRule({ direction: 'down', after: 'MARKER', action: 'close' });
    const client = await dial(proxy.port);
    (await server.next()).socket.write('hello MARKER tail');
    expect(await client.ended).toBe(true);
    expect(client.data().toString()).toBe('hello MARKER');
  });

  it('fires a once-rule on the first matching connection only; once:false on each', async () => {
    const { server, proxy } = await setup();
    proxy.addRule({ direction: 'down', after: 'X', action: 'close' });
    proxy.addRule({ direction: 'down', after: 'Y', action: 'close', once: false });
    const a = await dial(proxy.port);
    (await server.next()).socket.write('1X2');
    await a.closed;
    const b = await dial(proxy.port);
    const bUp = await server.next();
    bUp.socket.write('1X2');
    expect((await b.bytes(3)).toString()).toBe('1X2');
    bUp.socket.write('Y3');
    await b.closed;
    expect(b.data().toString()).toBe('1X2Y');
    const c = await dial(proxy.port);
    (await server.next()).socket.write('Y');
    await c.closed;
    expect(proxy.fired).toBe(3);
    expect(proxy.connections).toBe(3);
  });

  it('a rule added later applies to connections already open', async () => {
    const { server, proxy } = await setup();
    const client = await dial(proxy.port);
    const upstream = await server.next();
    upstream.socket.write('first');
    await client.bytes(5);
    proxy.addRule({ direction: 'down', after: 'second', action: 'close' });
    upstream.socket.write('second third');
    await client.closed;
    expect(client.data().toString()).toBe('firstsecond');
  });

  it('delayMs adds the one-way latency each way and keeps order', async () => {
    const delayMs = 60;
    const { proxy } = await setup({ delayMs, echo: true });
    const client = await dial(proxy.port);
    const started = performance.now();
    client.socket.write('ping');
    await client.bytes(4);
    const rtt = performance.now() - started;
    expect(rtt).toBeGreaterThanOrEqual(2 * delayMs);

    const parts = Array.from({ length: 200 }, (_, i) => `<${i}>`);
    for (const [i, p] of parts.entries()) {
      client.socket.write(p);
      if (i % 20 === 0) await sleep(3);
    }
    const expected = 'ping' + parts.join('');
    expect((await client.bytes(expected.length)).toString()).toBe(expected);
  });

  it("firstReplyDelayMs holds only the server's first bytes of each connection", async () => {
    const { server, proxy } = await setup({ firstReplyDelayMs: 400 });
    const client = await dial(proxy.port);
    const upstream = await server.next();
    const started = performance.now();
    upstream.socket.write('+OK hello\r\n');
    await client.bytes(11);
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    // Client to server is not held, nor is anything after the first reply.
    const again = performance.now();
    client.socket.write('CAPA\r\n');
    await upstream.bytes(6);
    upstream.socket.write('+OK\r\n');
    await client.bytes(16);
    expect(performance.now() - again).toBeLessThan(300);
  });

  it('bandwidthBytesPerSec paces the transfer', async () => {
    const { server, proxy } = await setup({ bandwidthBytesPerSec: 1024 * 1024 });
    const client = await dial(proxy.port);
    const upstream = await server.next();
    const started = performance.now();
    upstream.socket.write(Buffer.alloc(256 * 1024, 1));
    await client.bytes(256 * 1024);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('idleCloseMs closes a connection only once nothing has travelled either way for that long', async () => {
    const { server, proxy } = await setup({ idleCloseMs: 500 });
    const client = await dial(proxy.port);
    const upstream = await server.next();
    const started = performance.now();
    // Traffic every 100 ms, alternating directions, keeps it open well past 500 ms.
    for (let i = 0; i < 8; i++) {
      (i % 2 === 0 ? client : upstream).socket.write('x');
      await sleep(100);
    }
    expect(proxy.idleClosed).toBe(0);
    expect(await Promise.all([client.ended, upstream.ended])).toEqual([true, true]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(700 + 450);
    expect(proxy.idleClosed).toBe(1);
    expect(client.data().toString()).toBe('xxxx');
    expect(upstream.data().toString()).toBe('xxxx');
  });

  it('resets the client when the target refuses the connection', async () => {
    const spare = await scriptedServer();
    const port = spare.port;
    await spare.close();
    const proxy = await FaultProxy.start({ targetPort: port });
    cleanups.push(() => proxy.stop());
    const client = await dial(proxy.port);
    await client.closed;
    expect(client.error()?.code).toBe('ECONNRESET');
  });

  it('stop() leaves no socket or timer behind', async () => {
    const count = () => {
      const counts = new Map<string, number>();
      for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
      return counts;
    };
    const before = count();
    const server = await scriptedServer();
    const proxy = await FaultProxy.start({ targetPort: server.port, delayMs: 500 });
    proxy.addRule({ direction: 'down', after: 'stall', action: 'stall' });
    const stalled = await dial(proxy.port);
    (await server.next()).socket.write('stall here');
    const inFlight = await dial(proxy.port);
    await server.next();
    inFlight.socket.write('on the wire when stop() is called');
    await sleep(50);
    await proxy.stop();
    await Promise.all([stalled.closed, inFlight.closed]);
    await server.close();
    await sleep(20);
    const after = count();
    for (const kind of ['TCPSocketWrap', 'TCPServerWrap', 'Timeout']) {
      expect(after.get(kind) ?? 0, kind).toBeLessThanOrEqual(before.get(kind) ?? 0);
    }
    await proxy.stop();
  });
});
