/**
 * The control connection (imapflow) against scripted servers that keep it
 * busy without ever answering: imapflow's socket timeout is an idle timer,
 * which a byte every few seconds re-arms for ever.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PopliftError } from '../../src/errors.js';
import { ImapTarget, type ImapConnectOptions } from '../../src/imap/imap-target.js';

const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Writes `text` one byte every `everyMs` until the socket closes. */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<void> {
  for (let i = 0; !socket.destroyed; i = (i + 1) % text.length) {
    socket.write(text[i]!);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * An IMAP server that answers every command OK at once, except `stall`,
 * which gets a line trickled one byte every 200 ms and never its tagged
 * answer; `greeting: false` trickles the greeting instead.
 */
async function stallingServer(stall: string | undefined, greeting = true): Promise<number> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    if (!greeting) {
      void trickle(socket, '* OK slooooow', 200);
      return;
    }
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n');
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let eol = buffered.indexOf('\r\n'); eol >= 0; eol = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, eol);
        buffered = buffered.slice(eol + 2);
        const [tag = '', command = ''] = line.split(' ');
        const verb = command.toUpperCase();
        if (verb === stall) {
          void trickle(socket, '* OK still here\r\n', 200);
          continue;
        }
        if (verb === 'CAPABILITY') socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
        else if (verb === 'SELECT' || verb === 'EXAMINE')
          socket.write(`* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n${tag} OK [READ-WRITE] done\r\n`);
        else if (verb === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
        else socket.write(`${tag} OK done\r\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const options = (port: number): ImapConnectOptions => ({
  host: '127.0.0.1',
  port,
  tls: 'starttls',
  allowPlaintext: true,
  user: 'bob',
  password: 'secret',
  tlsOptions: {},
  timeoutMs: 1000,
});

/** The PopliftError `promise` rejects with, and after how many ms; fails when it takes longer than 8 s. */
async function failure(promise: Promise<unknown>): Promise<{ err: PopliftError; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => new Error('resolved'),
      (err: unknown) => err,
    ),
    new Promise((resolve) => (timer = setTimeout(() => resolve(new Error('still waiting after 8 s')), 8000))),
  ]);
  clearTimeout(timer);
  expect(outcome).toBeInstanceOf(PopliftError);
  return { err: outcome as PopliftError, ms: performance.now() - started };
}

describe('ImapTarget: every exchange on the control connection has a deadline', () => {
  // One byte every 200 ms never lets a 1 s idle timeout fire: before, each of these waited forever.
  it('a greeting trickled one byte at a time fails at the deadline (exit 4, naming server and step)', async () => {
    const port = await stallingServer(undefined, false);
    const { err, ms } = await failure(ImapTarget.connect(options(port)));
    expect(err).toMatchObject({ side: 'IMAP', code: 'IMAP_CONNECT', exitCode: 4 });
    expect(err.message).toMatch(new RegExp(`^IMAP server 127\\.0\\.0\\.1:${port} did not finish its greeting( and login)? within [12] s`));
    expect(ms).toBeLessThan(5000);
  });

  it('a LOGIN never answered fails at the deadline (exit 4)', async () => {
    const port = await stallingServer('LOGIN');
    const { err, ms } = await failure(ImapTarget.connect(options(port)));
    expect(err).toMatchObject({ side: 'IMAP', code: 'IMAP_CONNECT', exitCode: 4 });
    expect(err.message).toMatch(new RegExp(`^IMAP server 127\\.0\\.0\\.1:${port} did not finish its greeting and login within 2 s`));
    expect(err.message).not.toContain('secret');
    expect(ms).toBeLessThan(5000);
  });

  for (const [verb, step] of [
    ['STATUS', (t: ImapTarget) => t.openFolder(['Archive'], false)],
    ['CREATE', (t: ImapTarget) => t.openFolder(['Archive'], true, true)],
    ['SELECT', (t: ImapTarget) => t.inspect(folder, { flags: true })],
    ['FETCH', (t: ImapTarget) => t.fetchBodies(folder, [1, 2], false, () => undefined)],
  ] as const) {
    it(`a ${verb} never answered fails at the deadline, naming server and command`, async () => {
      const port = await stallingServer(verb === 'FETCH' ? 'UID' : verb);
      const target = await ImapTarget.connect(options(port));
      try {
        const { err, ms } = await failure(step(target));
        expect(err).toMatchObject({ side: 'IMAP', code: 'IMAP_TIMEOUT' });
        expect(err.message).toMatch(new RegExp(`^IMAP server 127\\.0\\.0\\.1:${port} did not finish answering ${verb} within 2 s`));
        expect(ms).toBeLessThan(5000);
      } finally {
        await target.close();
      }
    });
  }
});

const folder = {
  path: 'Archive',
  wireName: 'Archive',
  exists: true,
  uidValidity: 7n,
  permanentFlags: undefined,
  acceptsNewKeywords: true,
  appendLimit: undefined,
  flagsKnown: false,
};
