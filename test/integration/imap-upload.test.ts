/**
 * The upload connection against real Dovecot dressed as servers without
 * LITERAL+ or MULTIAPPEND (test/helpers/personalities.ts).
 */
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
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
        expect(perMessage).toBeLessThan(20);
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
