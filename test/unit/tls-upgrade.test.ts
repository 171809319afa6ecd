import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { serverNameOptions, upgradeToTls } from '../../src/tls-upgrade.js';

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url));

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * A plain server that turns each connection into TLS as soon as it reads
 * "STARTTLS\r\n" and has answered "OK", like a server that accepted STLS/STARTTLS, and then
 * answers "hello\r\n". It records the SNI name each client sent.
 */
async function startTlsServer(cert = 'tls-server.pem'): Promise<{ port: number; names: (string | false | null)[] }> {
  const names: (string | false | null)[] = [];
  const server = createServer((plain: Socket) => {
    plain.once('data', () => {
      plain.write('OK\r\n');
      const secure = new TLSSocket(plain, {
        isServer: true,
        secureContext: createSecureContext({ key: fixture('tls-server-key.pem'), cert: fixture(cert) }),
      });
      secure.on('secure', () => {
        names.push(secure.servername);
        secure.write('hello\r\n');
      });
      secure.on('error', () => undefined);
    });
    plain.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, names };
}

async function plainSocket(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('STARTTLS\r\n');
  // The ClientHello must not leave before the server has read the command.
  await new Promise((resolve) => socket.once('data', resolve));
  return socket;
}

describe('serverNameOptions', () => {
  it('names a host name and sends no SNI for an IP literal (RFC 6066 §3)', () => {
    expect(serverNameOptions('mail.example.com')).toEqual({ servername: 'mail.example.com' });
    expect(serverNameOptions('127.0.0.1')).toEqual({});
    expect(serverNameOptions('::1')).toEqual({});
  });

  it('keeps the caller options, whose servername wins', () => {
    expect(serverNameOptions('mail.example.com', { servername: 'other', rejectUnauthorized: false })).toEqual({
      servername: 'other',
      rejectUnauthorized: false,
    });
  });
});

describe('upgradeToTls', () => {
  it('upgrades a connected plain socket, checking the certificate, and carries data after', async () => {
    const server = await startTlsServer();
    const plain = await plainSocket(server.port);
    const { socket, secured } = upgradeToTls(plain, 'localhost', { ca: fixture('tls-ca.pem') });
    const received = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    await secured;
    expect(socket.authorized).toBe(true);
    expect(await received).toBe('hello\r\n');
    expect(server.names).toEqual(['localhost']);
    socket.destroy();
  });

  it('sends no SNI when the host is an IP literal, and checks the certificate against the IP', async () => {
    const server = await startTlsServer();
    const { socket, secured } = upgradeToTls(await plainSocket(server.port), '127.0.0.1', { ca: fixture('tls-ca.pem') });
    // The server records the name before it says hello.
    const hello = new Promise((resolve) => socket.once('data', resolve));
    await secured;
    await hello;
    expect(socket.authorized).toBe(true);
    expect(server.names).toEqual([false]);
    socket.destroy();
  });

  it('rejects with the certificate error when the certificate is not trusted', async () => {
    const server = await startTlsServer('tls-server-self-signed.pem');
    const { secured, socket } = upgradeToTls(await plainSocket(server.port), 'localhost', { ca: fixture('tls-ca.pem') });
    await expect(secured).rejects.toMatchObject({ code: expect.stringMatching(/CERT|SELF_SIGNED|UNABLE/) as unknown });
    socket.destroy();
  });

  it('rejects with ECONNRESET when the server closes during the handshake', async () => {
    const server = createServer((plain) =>
      plain.once('data', () => {
        plain.write('OK\r\n');
        plain.once('data', () => plain.destroy());
      }),
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const { secured } = upgradeToTls(await plainSocket(port), 'localhost');
    await expect(secured).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET/) as unknown });
  });
});
