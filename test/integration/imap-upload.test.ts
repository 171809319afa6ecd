/**
 * The upload connection against real Dovecot dressed as servers without
 * LITERAL+ or MULTIAPPEND (test/helpers/personalities.ts).
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, Socket, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ImapTarget } from '../../src/imap/imap-target.js';
import { ImapAppendChannel, type AppendItem, type ImapLogin } from '../../src/imap/imap-append-channel.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { personality } from '../helpers/personalities.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number, bodyBytes: number): Buffer {
  return Buffer.concat([
    Buffer.from(`From: a@example.org\r\nSubject: u${i}\r\nMessage-ID: <u${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n`),
    Buffer.alloc(bodyBytes, 'x'),
    Buffer.from('\r\n'),
  ]);
}

const items = (n: number, bodyBytes: number, from = 0): AppendItem[] =>
  Array.from({ length: n }, (_, i) => ({ content: message(from + i, bodyBytes), flags: [], date: undefined }));

describeIntegration('upload connection without LITERAL+ (Courier-like Dovecot)', () => {
  let dovecot: Dovecot;
  let bob: DovecotUser;
  beforeAll(async () => {
    dovecot = await startDovecot(personality('courier'));
    bob = dovecot.addUser('bob');
    // Dovecot re-reads its passwd-file at most once a second.
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const login = (tls: 'implicit' | 'starttls'): ImapLogin => ({
    host: '127.0.0.1',
    port: tls === 'implicit' ? dovecot.ports.imaps : dovecot.ports.imap,
    tls,
    allowPlaintext: true,
    user: bob.name,
    password: bob.password,
    tlsOptions: { ca: readFileSync(dovecot.certPath) },
    timeoutMs: 10_000,
  });

  for (const tls of ['starttls', 'implicit'] as const) {
    // Without TCP_NODELAY a literal, its closing CRLF and the next command written apart wait on
    // delayed ACKs (measured 89 ms a message into Courier): no delay, and as few writes as possible.
    it(`sets no-delay and writes each message with what follows it in one go (${tls})`, async () => {
      const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
      const channel = await ImapAppendChannel.open(login(tls));
      try {
        expect(channel.capabilities.has('LITERAL+')).toBe(false);
        // The TCP socket, and after STARTTLS the TLS socket over it.
        expect(noDelay.mock.calls.filter(([on]) => on !== false).length).toBeGreaterThanOrEqual(tls === 'starttls' ? 2 : 1);
        const writes = vi.spyOn(Socket.prototype, 'write');
        const count = 60;
        const started = performance.now();
        const outcomes = await channel.append('INBOX', items(count, 6000, tls === 'implicit' ? 1000 : 0), false);
        const perMessage = (performance.now() - started) / count;
        expect(outcomes.every((o) => o.ok)).toBe(true);
        // One write per synchronizing literal: [previous literal, CRLF,] this command up to '{n}', then the next after '+'.
        expect(writes.mock.calls.length).toBeLessThanOrEqual(count + 2);
        // On loopback Dovecot answers fast either way (about 1.5 ms a message); a wait on a delayed ACK would be 40 ms.
        expect(perMessage).toBeLessThan(30);
      } finally {
        vi.restoreAllMocks();
        await channel.logout();
      }
    });
  }

  for (const tls of ['starttls', 'implicit'] as const) {
    it(`the control connection (imapflow) has no-delay set too (${tls})`, async () => {
      const target = await ImapTarget.connect(login(tls));
      try {
        const socket = (target as unknown as { client: { socket: Socket } }).client.socket;
        const flag = Object.getOwnPropertySymbols(socket).find((k) => String(k).includes('NoDelay'));
        expect(flag).toBeDefined();
        expect((socket as unknown as Record<symbol, unknown>)[flag!]).toBe(true);
      } finally {
        await target.close();
      }
    });
  }

  it('every message arrives byte for byte', async () => {
    const got = await readImapFolder(dovecot, bob, 'INBOX');
    expect(got.length).toBe(120);
    const want = new Set([...items(60, 6000, 0), ...items(60, 6000, 1000)].map((i) => i.content.toString('latin1')));
    for (const m of got) expect(want.has(m.source.toString('latin1'))).toBe(true);
  });
});

/**
 * A proxy in front of Dovecot that, once the client sends a command matching
 * `trigger`, sends the client an untagged line of `bytes` octets before
 * passing the server's reply on (in 64 KiB pieces, waiting for each to drain).
 */
async function floodingProxy(targetPort: number, trigger: RegExp, bytes: number): Promise<{ port: number; server: Server }> {
  const server = createServer((client) => {
    const upstream = netConnect(targetPort, '127.0.0.1');
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let flooding: Promise<void> | undefined;
    upstream.on('data', (d: Buffer) => {
      if (!flooding) client.write(d);
      else void flooding.then(() => client.write(d));
    });
    client.on('data', (d: Buffer) => {
      if (!flooding && trigger.test(d.toString('latin1'))) {
        flooding = (async () => {
          client.write('* OK ');
          const piece = Buffer.alloc(64 * 1024, 'x');
          for (let sent = 0; sent < bytes && !client.destroyed; sent += piece.length) {
            if (!client.write(piece)) await new Promise<void>((r) => (client.once('drain', r), client.once('close', r)));
          }
          client.write('\r\n');
        })();
      }
      upstream.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

describeIntegration('a 60 MB untagged line from the server', () => {
  let dovecot: Dovecot;
  let bob: DovecotUser;
  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    bob = dovecot.addUser('bob');
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const measure = async <T>(work: () => Promise<T>) => {
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);
    const cpuBefore = process.cpuUsage();
    const result = await work().then(
      () => undefined,
      (err: unknown) => err,
    );
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpuBefore);
    return { error: result, cpuSeconds: (cpu.user + cpu.system) / 1e6, rssGrowthMb: (rssPeak - rssBefore) / 2 ** 20 };
  };

  it('on the control connection: fails it clearly, with bounded CPU and memory', async () => {
    const proxy = await floodingProxy(dovecot.ports.imap, / STATUS /, 60 * 2 ** 20);
    try {
      const target = await ImapTarget.connect({
        host: '127.0.0.1',
        port: proxy.port,
        tls: 'starttls',
        allowPlaintext: true,
        user: bob.name,
        password: bob.password,
        tlsOptions: {},
        timeoutMs: 30_000,
      });
      try {
        const m = await measure(() => target.openFolder(['Flooded'], true));
        // Before the cap imapflow took the whole line in (979 MB for 300 MB) and then poplift tried to create the folder.
        expect(m.error).toMatchObject({ side: 'IMAP', message: expect.stringMatching(/line longer than/) });
        expect((m.error as { message: string }).message).not.toMatch(/refused to create/);
        expect(m.cpuSeconds).toBeLessThan(5);
        expect(m.rssGrowthMb).toBeLessThan(60);
      } finally {
        await target.close();
      }
    } finally {
      await new Promise((r) => proxy.server.close(r));
    }
  });

  it('on the upload connection: fails it clearly, with bounded CPU and memory', async () => {
    const proxy = await floodingProxy(dovecot.ports.imap, / APPEND /, 60 * 2 ** 20);
    try {
      const channel = await ImapAppendChannel.open({
        host: '127.0.0.1',
        port: proxy.port,
        tls: 'starttls',
        allowPlaintext: true,
        user: bob.name,
        password: bob.password,
        tlsOptions: {},
        timeoutMs: 30_000,
      });
      try {
        const m = await measure(() => channel.append('INBOX', items(1, 100), false));
        expect(m.error).toMatchObject({ side: 'IMAP', code: 'IMAP_PROTOCOL', message: expect.stringMatching(/line longer than 1 MiB/) });
        expect(m.cpuSeconds).toBeLessThan(5);
        expect(m.rssGrowthMb).toBeLessThan(60);
      } finally {
        channel.close();
      }
    } finally {
      await new Promise((r) => proxy.server.close(r));
    }
  });
});
