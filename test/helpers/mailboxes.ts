/** Reads both sides of a migration back, independently of poplift's engine. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { Pop3Session } from '../../src/pop3/pop3-session.js';
import type { Dovecot, DovecotUser } from './dovecot.js';

export interface ImapMessage {
  uid: number;
  /** FETCH BODY[]. */
  source: Buffer;
  /** FETCH BINARY[]: the only way NUL bytes come back (a BODY[] literal cannot carry them). */
  binary: Buffer;
  flags: string[];
  internalDate: number;
}

export interface Pop3Message {
  number: number;
  uidl: string;
  source: Buffer;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function imapClient(dovecot: Dovecot, user: DovecotUser): Promise<ImapFlow> {
  // A harness without TLS (ports.imaps 0) is read over plain IMAP.
  const tls = dovecot.ports.imaps !== 0;
  const client = new ImapFlow({
    host: dovecot.host,
    port: tls ? dovecot.ports.imaps : dovecot.ports.imap,
    secure: tls,
    doSTARTTLS: false,
    auth: { user: user.name, pass: user.password },
    logger: false,
    tls: tls ? { ca: readFileSync(dovecot.certPath) } : {},
    disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Every message of an IMAP folder with its full bytes (BODY[]), flags and INTERNALDATE. */
export async function readImapFolder(dovecot: Dovecot, user: DovecotUser, folder: string | string[]): Promise<ImapMessage[]> {
  const client = await imapClient(dovecot, user);
  try {
    const mailbox = await client.mailboxOpen(folder, { readOnly: true });
    const out: ImapMessage[] = [];
    if (mailbox.exists > 0) {
      for await (const m of client.fetch('1:*', { uid: true, source: true, flags: true, internalDate: true })) {
        out.push({
          uid: m.uid,
          source: m.source!,
          binary: m.source!,
          flags: [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort(),
          internalDate: new Date(m.internalDate!).getTime(),
        });
      }
    }
    if (mailbox.exists > 0) {
      const byUid = new Map(out.map((m) => [m.uid, m]));
      for await (const m of client.fetch('1:*', { uid: true, source: true }, { binary: true })) byUid.get(m.uid)!.binary = m.source!;
    }
    return out;
  } finally {
    await client.logout();
  }
}

/** Every message of a POP3 mailbox as RETR delivers it. */
export async function readPop3(dovecot: Dovecot, user: DovecotUser): Promise<Pop3Message[]> {
  const session = await Pop3Session.connect({
    host: dovecot.host,
    port: dovecot.ports.pop3,
    tls: 'starttls',
    allowPlaintext: true,
    user: user.name,
    password: user.password,
    timeoutMs: 30_000,
    tlsOptions: { ca: readFileSync(dovecot.certPath) },
  });
  try {
    const sizes = await session.list();
    const uidls = await session.uidl();
    const out: Pop3Message[] = [];
    await session.retrMany(
      [...sizes.keys()].sort((a, b) => a - b),
      (n, body) => {
        out.push({ number: n, uidl: uidls?.get(n) ?? String(n), source: body });
      },
    );
    return out;
  } finally {
    await session.quit();
  }
}

/** Dovecot serves a message stored with bare LF line ends with CRLF. */
export function asServed(raw: Buffer): Buffer {
  const cr = Buffer.from('\r');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = raw.indexOf(0x0a); i >= 0; i = raw.indexOf(0x0a, i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) {
      parts.push(raw.subarray(start, i), cr);
      start = i;
    }
  }
  parts.push(raw.subarray(start));
  return Buffer.concat(parts);
}

/** Dovecot may rewrite CR runs before LF on APPEND (see NOTES): compare such messages folded. */
export function foldCr(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r+\n/g, '\r\n'), 'latin1');
}

export interface Landing {
  /** POP3 messages found on IMAP exactly once, identical to the byte. */
  exact: Pop3Message[];
  /** Found exactly once only after folding CR runs before LF (Dovecot rewrites CR CR LF on APPEND). */
  folded: Pop3Message[];
  /** Found neither way, or more than once. */
  missing: Pop3Message[];
}

/**
 * Where each POP3 message landed among the IMAP messages: compared by
 * SHA-256 with BODY[], or with BINARY[] for a message with NUL bytes (a
 * BODY[] literal cannot carry NUL, RFC 3516).
 */
export function compareLanding(pop3: Pop3Message[], imap: ImapMessage[]): Landing {
  const count = (list: Buffer[]) => {
    const map = new Map<string, number>();
    for (const b of list) map.set(sha256(b), (map.get(sha256(b)) ?? 0) + 1);
    return map;
  };
  const bodies = count(imap.map((m) => m.source));
  const binaries = count(imap.map((m) => m.binary));
  const foldedBodies = count(imap.map((m) => foldCr(m.source)));
  const landing: Landing = { exact: [], folded: [], missing: [] };
  for (const m of pop3) {
    if ((m.source.includes(0) ? binaries : bodies).get(sha256(m.source)) === 1) landing.exact.push(m);
    else if (/\r\r+\n/.test(m.source.toString('latin1')) && foldedBodies.get(sha256(foldCr(m.source))) === 1) landing.folded.push(m);
    else landing.missing.push(m);
  }
  return landing;
}
