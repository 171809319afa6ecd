/**
 * A password the control connection's LOGIN cannot carry (imapflow refuses a
 * CR, LF or NUL in a quoted string) is the password's fault: exit 3 naming
 * it, not "could not connect, try again later". A scripted server, since
 * nothing a real server does is involved: the command is never sent.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { ImapTarget } from '../../src/imap/imap-target.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
const received: string[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  received.length = 0;
});

/** Greets with LOGIN only (no AUTH=PLAIN) and refuses every command. */
async function loginOnlyServer(): Promise<number> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write('* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n');
    socket.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('latin1').split('\r\n').filter(Boolean)) {
        received.push(line);
        const tag = line.split(' ')[0]!;
        socket.write(`${tag} NO refused\r\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('an IMAP password that LOGIN cannot carry (issue 20 item 11)', () => {
  it.each([
    ['a CR', 'pass\rword'],
    ['an LF', 'pass\nword'],
    ['a NUL', 'pass\0word'],
  ])('with %s: an IMAP login error (exit 3) that names the password, nothing sent', async (_what, password) => {
    const port = await loginOnlyServer();
    const err = await ImapTarget.connect({
      host: '127.0.0.1',
      port,
      tls: 'starttls',
      allowPlaintext: true,
      user: 'alice',
      password,
      tlsOptions: {},
      timeoutMs: 2000,
    }).then(
      () => undefined,
      (e: unknown) => e as { exitCode?: number; code?: string; side?: string; message: string },
    );
    expect(err).toMatchObject({ exitCode: ExitCode.AUTH, code: 'IMAP_AUTH', side: 'IMAP' });
    expect(err!.message).toMatch(/IMAP password .*(CR|LF|NUL)/);
    expect(err!.message).not.toMatch(/try again later/);
    expect(received.filter((l) => /LOGIN/i.test(l))).toEqual([]);
  });
});
