/**
 * Reading any harness server back (POP3 and IMAP), and the changes real
 * servers are known to make to a message, so an interoperability test can
 * tell "the copy is the message" (byte-equal, or equal after a named change
 * the destination is known to apply) from "the copy is something else".
 */
import { ImapFlow } from 'imapflow';
import { readFileSync } from 'node:fs';
import { Pop3Session } from '../../src/pop3/pop3-session.js';
import type { MailServer, MailUser, ServerName } from './mail-server.js';
import { sha256 } from './mailboxes.js';

export async function readPop3Of(server: MailServer, user: MailUser): Promise<Buffer[]> {
  if (!server.pop3) throw new Error(`${server.name} has no POP3`);
  const session = await Pop3Session.connect({
    host: server.pop3.host,
    port: server.pop3.port,
    tls: server.certPath ? 'starttls' : false,
    allowPlaintext: true,
    user: user.login,
    password: user.password,
    timeoutMs: 30_000,
    ...(server.certPath ? { tlsOptions: { ca: readFileSync(server.certPath) } } : {}),
  });
  try {
    const sizes = await session.list();
    const out: Buffer[] = [];
    await session.retrMany(
      [...sizes.keys()].sort((a, b) => a - b),
      (_n, body) => {
        out.push(body);
      },
    );
    return out;
  } finally {
    await session.quit();
  }
}

export async function imapClientOf(server: MailServer, user: MailUser): Promise<ImapFlow> {
  if (!server.imap) throw new Error(`${server.name} has no IMAP`);
  const client = new ImapFlow({
    host: server.imap.host,
    port: server.imap.port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: user.login, pass: user.password },
    logger: false,
    disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * Every message (BODY[]) of the folder whose last level is `leaf`, whatever
 * the server's separator and namespace made of its path; null when there is
 * no such folder.
 */
export async function readFolderOf(server: MailServer, user: MailUser, leaf: string): Promise<Buffer[] | null> {
  const client = await imapClientOf(server, user);
  try {
    const boxes = await client.list();
    const box = boxes.find((b) => b.name === leaf);
    if (!box) return null;
    const opened = await client.mailboxOpen(box.path, { readOnly: true });
    const out: Buffer[] = [];
    if (opened.exists > 0) for await (const m of client.fetch('1:*', { uid: true, source: true })) out.push(m.source!);
    return out;
  } finally {
    await client.logout();
  }
}

/** A change a server is known to make to a message it stores or serves. */
export interface ServerChange {
  name: string;
  apply: (b: string) => string;
}

const headerEnd = (s: string) => {
  const i = s.search(/\r?\n\r?\n/);
  return i < 0 ? s.length : i;
};

export const CHANGES = {
  /** Dovecot may rewrite CR runs before LF on APPEND. */
  crFolded: { name: 'CR runs before LF folded', apply: (s) => s.replace(/\r+\n/g, '\r\n') },
  /**
   * Courier deletes every CR not followed by LF on APPEND, and ends each line with CRLF. (Cyrus 3.6 keeps
   * bare CRs as they are: APPEND then FETCH BODY[] gives the same bytes.)
   */
  bareCrDeleted: { name: 'bare CR deleted', apply: (s) => s.replace(/\r+\n/g, '\n').replace(/\r/g, '').replace(/\n/g, '\r\n') },
  /** Cyrus munge8bit: 8-bit header bytes become X at the same size. */
  munge8bit: {
    name: '8-bit header bytes replaced by X',
    apply: (s) => {
      const end = headerEnd(s);
      return s.slice(0, end).replace(/[\x80-\xff]/g, 'X') + s.slice(end);
    },
  },
  /** Mailutils adds X-IMAPbase, X-UID and Status headers to mbox messages; as POP3 source it also stores X-UIDL after UIDL and rewrites Status. */
  mailutilsHeaders: {
    name: 'X-IMAPbase/X-UID/X-UIDL/Status headers added',
    apply: (s) => {
      const blank = /\r?\n(?=\r?\n)/.exec(s);
      const end = blank ? blank.index + blank[0].length : s.length;
      const kept = s
        .slice(0, end)
        .split(/(?<=\n)/)
        .filter((l) => !/^(X-IMAPbase|X-UIDL?|Status):/i.test(l));
      return kept.join('') + s.slice(end);
    },
  },
  /** Mailutils gives an empty body one empty line, storing it by APPEND or rewriting its mbox after a POP3 session. */
  emptyBodyLineEnd: {
    name: 'line end added to an empty body',
    apply: (s) => {
      const blank = /\r?\n\r?\n/.exec(s);
      return blank && /^(\r?\n)?$/.test(s.slice(blank.index + blank[0].length)) ? s.slice(0, blank.index + blank[0].length) : s;
    },
  },
} satisfies Record<string, ServerChange>;

/** What each server may do to a message it stores by APPEND. */
export const STORE_CHANGES: Record<ServerName, ServerChange[]> = {
  dovecot: [CHANGES.crFolded],
  cyrus: [CHANGES.munge8bit],
  courier: [CHANGES.bareCrDeleted],
  mailutils: [CHANGES.mailutilsHeaders, CHANGES.emptyBodyLineEnd],
  popa3d: [],
  'solid-pop3d': [],
  hoodiecrow: [],
  wildduck: [],
};

/** What a POP3 source may change between two readings of the same message. */
export const SERVE_CHANGES: Record<ServerName, ServerChange[]> = {
  dovecot: [],
  cyrus: [],
  courier: [],
  mailutils: [CHANGES.mailutilsHeaders, CHANGES.emptyBodyLineEnd],
  popa3d: [],
  'solid-pop3d': [],
  hoodiecrow: [],
  wildduck: [],
};

const latin1 = (b: Buffer) => b.toString('latin1');

/** Every non-empty combination of changes, smallest first. */
function combinations(changes: ServerChange[]): ServerChange[][] {
  const out: ServerChange[][] = [];
  for (let mask = 1; mask < 1 << changes.length; mask++) out.push(changes.filter((_, i) => mask & (1 << i)));
  return out.sort((a, b) => a.length - b.length);
}

export interface Match {
  /** Index of the copy among the destination messages. */
  copy: number;
  /** The changes that make the two equal; empty when byte-equal. */
  changes: string[];
}

/**
 * Where each source message is on the destination: exactly one copy,
 * byte-equal or equal after a combination of the named changes; null when
 * none, or more than one (a duplicate is not a proof either).
 */
export function matchCopies(
  source: Buffer[],
  destination: Buffer[],
  sourceServer: ServerName,
  destServer: ServerName,
): Array<Match | null> {
  const exact = new Map<string, number[]>();
  destination.forEach((b, i) => exact.set(sha256(b), [...(exact.get(sha256(b)) ?? []), i]));
  const serve = SERVE_CHANGES[sourceServer];
  const combos = combinations([...serve, ...STORE_CHANGES[destServer]]);
  const indexes = combos.map((combo) => {
    const map = new Map<string, number[]>();
    destination.forEach((b, i) => {
      const k = combo.reduce((s, c) => c.apply(s), latin1(b));
      map.set(k, [...(map.get(k) ?? []), i]);
    });
    return map;
  });
  return source.map((b) => {
    const hit = exact.get(sha256(b));
    if (hit) return hit.length === 1 ? { copy: hit[0]!, changes: [] } : null;
    for (const [ci, combo] of combos.entries()) {
      const k = combo.reduce((s, c) => c.apply(s), latin1(b));
      const found = indexes[ci]!.get(k);
      if (found) return found.length === 1 ? { copy: found[0]!, changes: combo.map((c) => c.name) } : null;
    }
    return null;
  });
}

/** A key that stays the same while a source serves a message differently between readings. */
export function sourceKey(b: Buffer, sourceServer: ServerName): string {
  return sha256(
    Buffer.from(
      SERVE_CHANGES[sourceServer].reduce((s, c) => c.apply(s), latin1(b)),
      'latin1',
    ),
  );
}
