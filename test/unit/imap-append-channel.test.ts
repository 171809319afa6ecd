/**
 * The upload connection before login, against tiny scripted servers: a real
 * IMAP server always greets, so these cases need one that does not.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ImapAppendChannel, type ImapLogin } from '../../src/imap/imap-append-channel.js';

const servers: Server[] = [];
const sockets: Socket[] = [];

async function scripted(onConnect: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onConnect(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const login = (port: number): ImapLogin => ({
  host: '127.0.0.1',
  port,
  tls: 'starttls',
  allowPlaintext: true,
  user: 'alice',
  password: 'secret',
  tlsOptions: {},
  timeoutMs: 300,
});

describe('ImapAppendChannel before login', () => {
  it('gives up on a server that never greets, after the idle timeout', async () => {
    const port = await scripted(() => undefined);
    const started = performance.now();
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({ code: 'IMAP_TIMEOUT', side: 'IMAP' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('reports a server that closes before greeting', async () => {
    const port = await scripted((socket) => socket.end());
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({ code: 'IMAP_CONNECTION_LOST', side: 'IMAP' });
  });

  it('refuses a server that is not IMAP', async () => {
    const port = await scripted((socket) => socket.write('+OK POP3 server ready\r\n'));
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({ code: 'IMAP_PROTOCOL', message: expect.stringMatching(/did not greet as an IMAP server/) });
  });
});
