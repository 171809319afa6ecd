/**
 * The one place poplift uses node-pop3 (pinned at 0.11.0): to open the
 * connection, TCP or implicit TLS over it with the caller's options, which
 * it does correctly. Everything after the socket exists (framing, commands,
 * timeouts, STLS, login) is poplift's own, because node-pop3 decodes replies
 * to strings, does not undo dot-stuffing, finds the end marker and status
 * lines only within one TCP chunk, and mixes up concurrent commands' replies.
 *
 * What is overridden, each tested in test/unit/node-pop3-socket.test.ts:
 * 1. SNI: node-pop3 sends the host as server name even when it is an IP
 *    address, which RFC 6066 forbids; an IP literal is sent none.
 * 2. No login: node-pop3 is given no credentials and its login (`_connect`,
 *    USER/PASS) is never called; poplift logs in itself.
 * 3. No timeout: node-pop3 is given none, so it arms no socket timeout that
 *    would end the connection behind poplift's own idle timer.
 * 4. Listeners: the four listeners node-pop3 puts on the socket ('data',
 *    'error', 'close', 'end') are removed before any byte can arrive; the
 *    caller attaches its own.
 * 5. Its connect promise: with its listeners gone it never resolves; only a
 *    synchronous failure in its executor (e.g. an invalid port) rejects it,
 *    and that is handed to `onSetupError`.
 * 6. Its private `_socket`, where node-pop3 keeps the socket it created, is
 *    the one thing read from it.
 */
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';
import Pop3Command from 'node-pop3';
import { serverNameOptions } from '../tls-upgrade.js';

export interface NodePop3SocketOptions {
  host: string;
  port: number;
  /** Implicit TLS (POP3S): the handshake starts as soon as TCP is up. */
  tls: boolean;
  tlsOptions?: ConnectionOptions | undefined;
}

/** The events node-pop3 listens to on its socket, one listener each (override 4). */
export const NODE_POP3_EVENTS = ['data', 'error', 'close', 'end'] as const;

// Node's EventEmitter signature: listeners take whatever the event carries.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the same type as EventEmitter's own listener parameter
type Listener = (...args: any[]) => void;

/**
 * Starts connecting and returns the socket at once, before any byte can be
 * delivered: the caller attaches its listeners in the same tick. A TLS
 * socket emits 'secureConnect' when up, a plain one 'connect'.
 */
export function openPop3Socket(options: NodePop3SocketOptions, onSetupError: (err: unknown) => void): Socket | TLSSocket {
  const pop3 = new Pop3Command({
    host: options.host,
    port: options.port,
    tls: options.tls,
    // Override 2: poplift's own login (USER/PASS, APOP, AUTH) is used, never node-pop3's.
    user: '',
    password: '',
    // Override 1: node-pop3 spreads these into tls.connect() after its own
    // servername (the host), so an IP literal's `servername: undefined` wins.
    tlsOptions: { servername: undefined, ...serverNameOptions(options.host, options.tlsOptions) } as TlsOptions,
    // Override 3: no `timeout`.
  });
  // node-pop3 creates the socket and attaches its listeners synchronously,
  // before socket.connect() can deliver any byte, so replacing them here
  // loses nothing (override 5 for the promise).
  pop3.connect().catch(onSetupError);
  // Override 6.
  const socket = pop3._socket;
  if (socket === null) throw new Error('node-pop3 created no socket');
  for (const event of NODE_POP3_EVENTS) {
    // Override 4: node-pop3 adds exactly one listener per event, after
    // Node's own TLS listeners: it is always the last one.
    const listeners = socket.listeners(event);
    const theirs = listeners[listeners.length - 1];
    if (theirs !== undefined) socket.removeListener(event, theirs as Listener);
  }
  return socket;
}
