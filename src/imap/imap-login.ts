/**
 * From the greeting to a logged-in upload connection: capabilities,
 * STARTTLS, AUTHENTICATE (PLAIN, XOAUTH2, OAUTHBEARER) or LOGIN, and ID.
 */
import type { ConnectionOptions } from 'node:tls';
import { ExitCode, PopliftError } from '../errors.js';
import { oauthErrorAcknowledgement, oauthResponse, plainResponse, type OAuthMechanism } from '../sasl.js';
import { sentBeforeTls } from '../tls-upgrade.js';
import type { ImapConnection } from './imap-connection.js';
import { loginRefused } from './imap-errors.js';
import type { ImapResponse, TaggedReply } from './imap-response.js';
import { imapAstring } from './mailbox-name.js';

/** The server offers no STARTTLS and plain text was not allowed: nothing was sent. */
export function noStartTls(server: string, cause?: unknown): PopliftError {
  return new PopliftError(
    `IMAP server ${server} does not offer STARTTLS; refusing to send the password in the clear. Use imaps://, or --allow-plaintext if the network is trusted.`,
    { exitCode: ExitCode.CONNECT, side: 'IMAP', server, code: 'IMAP_TLS', ...(cause === undefined ? {} : { cause }) },
  );
}

/** An IMAP quoted string (ID takes strings only, never atoms). */
function quoted(text: string): string {
  return `"${text.replace(/[\\"\r\n\0]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : ''))}"`;
}

/** A refusal for having too many connections (Gmail: "[ALERT] Too many simultaneous connections"; Dovecot: "[LIMIT] Maximum number of connections"). */
function tooManyConnections(reply: TaggedReply): boolean {
  return /too many (simultaneous |concurrent )?connections|maximum number of (simultaneous |concurrent )?connections|connection limit/i.test(
    reply.text,
  );
}

/**
 * Logs the connection in, after its greeting. `tlsOptions` are those the
 * connection was opened with (the STARTTLS upgrade uses them too).
 */
export async function logIn(conn: ImapConnection, greeting: ImapResponse, tlsOptions: ConnectionOptions): Promise<void> {
  const { login } = conn;
  // Most servers list their capabilities in the greeting; asking again would cost a round trip.
  if (!capabilitiesFrom(conn, greeting.kind === 'status' ? greeting : undefined)) await refreshCapabilities(conn);
  if (login.tls === 'starttls') {
    if (conn.capabilities.has('STARTTLS')) {
      await conn.command('STARTTLS');
      // The chunk that carried the OK has been read to its end by now: anything after it is not the server's over TLS.
      if (conn.heardAfterLastReply) {
        conn.close();
        throw sentBeforeTls('IMAP', conn.server);
      }
      await conn.upgrade(tlsOptions);
      await refreshCapabilities(conn);
    } else if (!login.allowPlaintext) {
      conn.close();
      throw noStartTls(conn.server);
    }
  }
  await authenticate(conn);
  const id = login.clientId;
  if (id && conn.capabilities.has('ID')) {
    // Nothing waits for the answer: the first upload goes out right behind it.
    conn.rawCommand(`ID ("name" ${quoted(id.name)} "version" ${quoted(id.version)})`).catch(() => undefined);
  }
}

/** Takes a [CAPABILITY ...] response code (greeting, tagged OK of a login); false when there is none. */
function capabilitiesFrom(conn: ImapConnection, reply: { code: string | undefined; codeArgs: readonly string[] } | undefined): boolean {
  if (reply?.code !== 'CAPABILITY' || reply.codeArgs.length === 0) return false;
  conn.capabilities = new Set(reply.codeArgs.map((c) => c.toUpperCase()));
  return true;
}

async function refreshCapabilities(conn: ImapConnection): Promise<void> {
  const caps = new Set<string>();
  await conn.command('CAPABILITY', (response) => {
    if (response.kind === 'capability') for (const c of response.capabilities) caps.add(c);
  });
  conn.capabilities = caps;
}

async function authenticate(conn: ImapConnection): Promise<void> {
  const { user, password, accessToken } = conn.login;
  const { server } = conn;
  let reply: TaggedReply;
  if (accessToken !== undefined) {
    const mech = conn.capabilities.has('AUTH=OAUTHBEARER') ? 'OAUTHBEARER' : 'XOAUTH2';
    reply = await saslCommand(conn, mech, oauthResponse(mech, user, accessToken));
  } else if (conn.capabilities.has('AUTH=PLAIN')) {
    reply = await saslCommand(conn, 'PLAIN', plainResponse(user, password ?? ''));
  } else {
    if (conn.capabilities.has('LOGINDISABLED')) {
      throw new PopliftError(`IMAP server ${server} refuses LOGIN on this connection; use imaps:// or a port with STARTTLS.`, {
        exitCode: ExitCode.AUTH,
        side: 'IMAP',
        server,
        code: 'IMAP_AUTH',
      });
    }
    reply = await loginCommand(conn, user, password ?? '');
  }
  if (reply.status !== 'OK') {
    conn.close();
    const code = reply.code ? `[${reply.code}] ` : '';
    if (tooManyConnections(reply)) {
      // Not the credentials: the account has as many connections as the server allows.
      throw new PopliftError(
        `IMAP server ${server} refused one more connection for ${user}: ${code}${reply.text.replace(/\.$/, '')}. Close other mail clients of this account, or give a lower --connections.`,
        { exitCode: ExitCode.CONNECT, side: 'IMAP', server, code: 'IMAP_CONNECT' },
      );
    }
    throw loginRefused(server, user, { code: reply.code, text: reply.text, tokenUsed: accessToken !== undefined });
  }
  // Capabilities change after login; servers usually say so in the tagged OK.
  if (!capabilitiesFrom(conn, reply)) await refreshCapabilities(conn);
}

/**
 * AUTHENTICATE with SASL-IR when offered, else the initial response after '+'.
 * A '+' after the credentials is the server refusing a token with an error
 * challenge (RFC 7628 §3.2.2): it must be answered (a lone %x01 for
 * OAUTHBEARER, an empty line for XOAUTH2) before the tagged NO comes.
 */
function saslCommand(conn: ImapConnection, mech: 'PLAIN' | OAuthMechanism, initial: string): Promise<TaggedReply> {
  const tag = conn.nextTag();
  const reply = conn.expect(tag);
  const acknowledgeError = () => {
    // PLAIN has no error challenge; a '+' after it gets the empty line that ends the exchange.
    const ack = mech === 'PLAIN' ? '' : oauthErrorAcknowledgement(mech);
    conn.trace('C', ack === '' ? '(empty response to the error challenge)' : ack);
    conn.writeNow(`${ack}\r\n`);
  };
  conn.startDeadline(tag, 'AUTHENTICATE');
  if (conn.capabilities.has('SASL-IR')) {
    conn.continuations.push(acknowledgeError);
    conn.trace('C', `${tag} AUTHENTICATE ${mech} ****`);
    conn.writeNow(`${tag} AUTHENTICATE ${mech} ${initial}\r\n`);
  } else {
    conn.continuations.push(() => {
      conn.trace('C', '****');
      conn.writeNow(`${initial}\r\n`);
      conn.continuations.push(acknowledgeError);
    });
    conn.trace('C', `${tag} AUTHENTICATE ${mech}`);
    conn.writeNow(`${tag} AUTHENTICATE ${mech}\r\n`);
  }
  return reply.finally(() => {
    conn.continuations.length = 0;
  });
}

/**
 * LOGIN, its arguments as atoms or quoted strings where those carry them
 * (7-bit text without CR or LF), else as literals of their UTF-8 bytes: a
 * quoted string is 7-bit (RFC 3501 §9 TEXT-CHAR), and a command line
 * written as latin1 sent '€' as one byte, so the password the control
 * connection logged in with failed on the upload connections.
 */
function loginCommand(conn: ImapConnection, user: string, password: string): Promise<TaggedReply> {
  const tag = conn.nextTag();
  const reply = conn.expect(tag);
  // Each part goes out once the server has asked for it with '+' (the first at once).
  const parts: Buffer[][] = [[Buffer.from(`${tag} LOGIN`)]];
  for (const arg of [user, password]) {
    let current = parts[parts.length - 1]!;
    if (/^[\x20-\x7e]*$/.test(arg)) {
      current.push(Buffer.from(` ${imapAstring(arg)}`));
      continue;
    }
    const bytes = Buffer.from(arg, 'utf8');
    const sync = !conn.nonSyncOk(bytes.length);
    current.push(Buffer.from(` {${bytes.length}${sync ? '' : '+'}}\r\n`));
    if (sync) parts.push((current = []));
    current.push(bytes);
  }
  parts[parts.length - 1]!.push(Buffer.from('\r\n'));
  conn.trace('C', `${tag} LOGIN ${/^[\x20-\x7e]*$/.test(user) ? imapAstring(user) : `{${Buffer.byteLength(user)}}`} ****`);
  for (const part of parts.slice(1)) conn.continuations.push(() => conn.writeNow(Buffer.concat(part)));
  conn.queue(Buffer.concat(parts[0]!));
  conn.flushOut().catch(() => undefined);
  return reply.finally(() => {
    // A refusal before its '+' must not leave a part to answer the next command's '+'.
    conn.continuations.length = 0;
  });
}
