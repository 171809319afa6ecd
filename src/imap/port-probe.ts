/**
 * What answers on a port that sent no IMAP greeting: a server that waits for
 * a TLS ClientHello (imap:// given for an imaps:// port) says nothing at
 * all, and a POP3, SMTP or SSH server greets in words imapflow does not take
 * for a greeting. A second, short connection tells which, so the user hears
 * what to use within a second or two instead of after the timeout.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { recogniseService } from '../service-greeting.js';

/** The first bytes the server sends on a new connection (plain or TLS), or undefined within `limitMs`. */
function firstBytes(host: string, port: number, tls: boolean, limitMs: number): Promise<Buffer | 'tls' | undefined> {
  return new Promise((resolve) => {
    const socket: Socket = tls
      ? tlsConnect({ host, port, rejectUnauthorized: false, ...(isIP(host) === 0 ? { servername: host } : {}) })
      : netConnect({ host, port });
    const done = (result: Buffer | 'tls' | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(undefined), limitMs);
    timer.unref();
    socket.once('data', (chunk: Buffer) => done(chunk));
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
    // A TLS handshake that completes, on a connection that was meant to be plain, is the answer itself.
    if (tls) socket.once('secureConnect', () => setTimeout(() => done('tls'), 300).unref());
  });
}

/**
 * Asked when a connection got no IMAP greeting in time: for `tls` false,
 * whether the port speaks TLS; for both, what the server's first words say.
 */
export async function probePort(host: string, port: number, tls: boolean, limitMs = 3000): Promise<string | undefined> {
  const overTls = await firstBytes(host, port, true, limitMs);
  if (overTls === 'tls' || (Buffer.isBuffer(overTls) && overTls.length === 0))
    return tls ? undefined : `port ${port} speaks TLS from the first byte: use imaps://`;
  if (Buffer.isBuffer(overTls)) {
    const said = recogniseService(overTls, port, 'IMAP');
    if (said !== undefined) return said;
    // Over TLS the server greeted, which a plain connection would not have heard.
    if (!tls) return `port ${port} speaks TLS from the first byte: use imaps://`;
    return undefined;
  }
  const plain = await firstBytes(host, port, false, limitMs);
  return Buffer.isBuffer(plain) ? recogniseService(plain, port, 'IMAP') : undefined;
}
