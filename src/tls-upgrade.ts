/**
 * TLS on a connection both protocols open: the server name to present, and
 * the upgrade of a connected plain socket once the server has accepted POP3
 * STLS (RFC 2595) or IMAP STARTTLS (RFC 3501 §6.2.1).
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { PopliftError, type Side } from './errors.js';

/**
 * The caller's TLS options with the SNI server name for `host`: SNI carries
 * host names only (RFC 6066 §3), so an IP literal is sent none (Node warns
 * otherwise); the certificate is still checked against `host` either way.
 * An explicit `servername` in `options` wins.
 */
export function serverNameOptions(host: string, options?: ConnectionOptions): ConnectionOptions {
  return { ...(isIP(host) === 0 ? { servername: host } : {}), ...options };
}

export interface TlsUpgrade {
  /** The TLS socket over the plain one; attach listeners to it at once. */
  readonly socket: TLSSocket;
  /**
   * Resolves when the handshake is complete; rejects with the socket's error,
   * or an ECONNRESET error when it closes first.
   */
  readonly secured: Promise<void>;
}

/**
 * Starts TLS on `plain`, which from now on carries ciphertext: the caller
 * must already have removed every listener of its own that reads it
 * ('data', 'error', 'close', 'end'), or those would see TLS records.
 */
export function upgradeToTls(plain: Socket, host: string, options?: ConnectionOptions): TlsUpgrade {
  const socket = tlsConnect({ host, ...serverNameOptions(host, options), socket: plain });
  // Commands are small writes, each answered before the next on a slow path:
  // Nagle's algorithm would hold each one for the server's delayed ACK.
  socket.setNoDelay(true);
  const secured = new Promise<void>((resolve, reject) => {
    const settle = (err?: Error): void => {
      socket.removeListener('secureConnect', onSecure);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onSecure = (): void => settle();
    const onError = (err: Error): void => settle(err);
    const onClose = (): void => settle(Object.assign(new Error('closed during the TLS handshake'), { code: 'ECONNRESET' }));
    socket.once('secureConnect', onSecure);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
  return { socket, secured };
}

/**
 * The server sent something after accepting STLS/STARTTLS and before the
 * handshake. Whatever it is arrived in plain text, where anyone on the path
 * can write it, and would be read as if it came over TLS (RFC 2595 §3.1,
 * RFC 3501 §6.2.1; CVE-2011-0411): a partial line is joined to the first
 * line read after the handshake, a forged reply can hide the capabilities
 * and make the login fall back to a weaker mechanism. Refused, as imapflow
 * refuses it on the control connection.
 */
export function sentBeforeTls(side: Side, server: string): PopliftError {
  const verb = side === 'POP3' ? 'STLS' : 'STARTTLS';
  return new PopliftError(
    `${side} server ${server} sent data after its ${verb} answer, before the TLS handshake: something on the network path may be injecting commands, so poplift refuses this connection and sends no password. Try again; if it persists, use ${side === 'POP3' ? 'pop3s://' : 'imaps://'} (TLS from the start).`,
    { side, server, code: side === 'POP3' ? 'POP3_TLS' : 'IMAP_TLS' },
  );
}
