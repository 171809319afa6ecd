/**
 * The dedup key that says "this message is already on the destination".
 *
 * A message with a usable Message-ID is keyed by it: a Message-ID is a claim
 * of identity, and the content is proven separately before a source message
 * is deleted. A message without one is keyed by its Date, From, To, Cc and
 * Subject and a digest of its body, because equal headers and an equal size
 * do not make two messages the same ("backup OK" / "backup FAILED").
 *
 * Keys keep every byte that tells messages apart; bytes outside printable
 * ASCII are percent-escaped, never collapsed. What servers are known to do
 * to a stored or fetched message is handled in two ways: changes that carry
 * no meaning (line-end bytes, whitespace around folds, the header fields
 * servers add) are left out of the key, and the lossy rewrites of header
 * bytes (Cyrus munge8bit, `?` in fetches) give named alternative keys.
 *
 * The destination side fetches only KEY_HEADER_FIELDS and RFC822.SIZE for a
 * whole folder, which gives indexKey; a fallback key's body digest is known
 * there only for a copy whose body is fetched. See identityKey.
 */

import { createHash, type Hash } from 'node:crypto';
import { firstHeader, headerBlock, parseHeaders, trimWsp, type HeaderField } from './headers.js';

/** The fields the key depends on, lower-case, in the order the IMAP side should request them. */
export const KEY_HEADER_FIELDS = ['message-id', 'date', 'from', 'to', 'cc', 'subject'] as const;

/**
 * Normalises a Message-ID field value, or returns undefined when it does not
 * identify anything.
 *
 * Rule:
 * 1. Unfold: every CR and LF is removed (the WSP after a fold stays).
 * 2. Outside angle brackets, RFC 5322 comments `( … )` are removed; they
 *    nest and `\` quotes the next character inside them. An unterminated
 *    comment runs to the end of the value. Parentheses inside `< … >` are
 *    ordinary characters.
 * 3. If a `<` occurs outside comments, the result is the text between the
 *    first such `<` and the next `>`, with SP/HTAB trimmed at both ends and
 *    everything else kept byte for byte, case included (local parts are
 *    case-sensitive, and guessing about domain case could merge distinct
 *    messages). Empty contents (`<>`) or a missing `>` give undefined.
 * 4. Without `<`, the remaining text trimmed of SP/HTAB is used when it is
 *    non-empty and contains no SP, HTAB, `<`, `>`, `(` or `)`; anything else
 *    is garbage and gives undefined.
 *
 * Only the first Message-ID candidate counts: a garbage ID is not rescued by
 * later text, so a damaged header falls back to the hash key rather than
 * matching on a guess.
 */
export function normalizeMessageId(raw: string): string | undefined {
  const s = raw.replace(/[\r\n]/g, '');
  let outside = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
      continue;
    }
    if (c === '(') {
      depth = 1;
      outside += ' ';
    } else if (c === '<') {
      const close = s.indexOf('>', i + 1);
      if (close === -1) return undefined;
      const contents = trimWsp(s.slice(i + 1, close));
      return contents === '' ? undefined : contents;
    } else {
      outside += c;
    }
  }
  const bare = trimWsp(outside);
  if (bare === '' || /[ \t<>()]/.test(bare)) return undefined;
  return bare;
}

/**
 * Bytes outside printable ASCII, and `%` itself, as `%XX` (upper-case hex),
 * so the key shows every byte of the value, stays on one line and can be
 * decoded unambiguously. `s` is latin1-decoded: one code unit per byte.
 */
export function escapeKeyBytes(s: string): string {
  return s.replace(/[^\x21-\x24\x26-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** A lossy rewrite of header bytes a server is known to apply, named for reports. */
export interface HeaderRewrite {
  name: string;
  apply(value: string): string;
}

/**
 * What servers are known to do to header bytes, in storage or in a header
 * FETCH. Each is lossy (two different values can become one), so none is
 * applied to the key itself: each gives an alternative key instead.
 */
export const HEADER_REWRITES: readonly HeaderRewrite[] = [
  // Cyrus (munge8bit, on by default) stores each 8-bit header byte as X, at the same size.
  { name: '8-bit header bytes replaced by X', apply: (s) => s.replace(/[\x80-\xff]/g, 'X') },
  // Zimbra sends each 8-bit header byte as `?` in header fetches.
  { name: '8-bit header bytes sent as ?', apply: (s) => s.replace(/[\x80-\xff]/g, '?') },
  // Yahoo sends one `?` per UTF-8 sequence in header fetches.
  { name: 'UTF-8 header characters sent as ?', apply: (s) => s.replace(/[\xc2-\xf4][\x80-\xbf]{1,3}|[\x80-\xff]/g, '?') },
];

/** The fallback's header fields, first occurrence each, absent = empty. */
const FALLBACK_FIELDS = ['date', 'from', 'to', 'cc', 'subject'] as const;

/**
 * A fallback field value as compared: CRs removed and each run of SP/HTAB
 * made one SP, then trimmed. Servers refold long header lines and strip
 * blanks before a fold (Zimbra), and Courier deletes CRs that are not part
 * of a line end; none of that tells messages apart, and the body digest
 * still does.
 */
function fallbackValue(value: string): string {
  return trimWsp(value.replace(/\r/g, '').replace(/[ \t]+/g, ' '));
}

/** 128 bits of SHA-256 in hex: ample for telling messages apart, half the journal space. */
function short(hash: Hash): string {
  return hash.digest('hex').slice(0, 32);
}

function fallbackHeaderDigest(fields: HeaderField[], rewrite?: HeaderRewrite): string {
  const hash = createHash('sha256');
  const values = FALLBACK_FIELDS.map((name) => {
    const value = fallbackValue(keyFieldOf(fields, name) ?? '');
    return rewrite === undefined ? value : rewrite.apply(value);
  });
  // Values cannot contain LF, so the join is unambiguous.
  hash.update(values.join('\n'), 'latin1');
  return short(hash);
}

/**
 * The digest of a message's body (everything after the header section, see
 * headerBlock) with every CR and LF byte left out. Servers rewrite exactly
 * those bytes when they store a message: Dovecot folds CR runs before LF,
 * Courier deletes a CR not followed by LF, mbox stores turn CRLF into LF
 * and add a line end to an empty body (Mailutils). Messages that differ in
 * nothing but where their line ends fall get the same digest: the key only
 * finds candidates, and the copy rule (copy-rule.ts), which keeps lines,
 * decides whether a candidate is the message. NUL counts as 0x80, as in the key
 * fields: a copy read without BINARY (RFC 3516) cannot show it either.
 */
export function bodyDigest(message: Buffer): string {
  const hash = createHash('sha256');
  // Copied through a small buffer: one hash update per line would cost far
  // more than the bytes on a body of short lines.
  const scratch = Buffer.allocUnsafe(Math.min(64 * 1024, message.length + 1));
  let filled = 0;
  for (let i = headerBlock(message).length; i < message.length; i++) {
    const c = message[i] as number;
    if (c === 0x0d || c === 0x0a) continue;
    scratch[filled++] = c === 0x00 ? 0x80 : c;
    if (filled === scratch.length) {
      hash.update(scratch);
      filled = 0;
    }
  }
  hash.update(scratch.subarray(0, filled));
  return short(hash);
}

/**
 * An IMAP literal cannot carry NUL (RFC 3501 section 4.3), so a header FETCH
 * never shows one: Dovecot sends 0x80 in its place. Keys are made of what
 * the destination can show, so NUL counts as 0x80 in every key field.
 */
function withoutNul(value: string): string {
  return value.includes('\x00') ? value.replace(/\x00/g, '\x80') : value;
}

function keyFieldOf(fields: HeaderField[], name: string): string | undefined {
  const raw = firstHeader(fields, name);
  return raw === undefined ? undefined : withoutNul(raw);
}

function messageIdOf(fields: HeaderField[]): string | undefined {
  const raw = keyFieldOf(fields, 'message-id');
  return raw === undefined ? undefined : normalizeMessageId(raw);
}

/**
 * The key a destination message is indexed by, from the header fields alone
 * (KEY_HEADER_FIELDS, as a bulk header FETCH returns them):
 * - `mid:` and the escaped Message-ID (see identityKey): the whole key;
 * - otherwise `fh:` and the fallback's header digest: the part of a `fb:`
 *   key that headers can tell (see indexKeyOf). Every `fb:` key of a
 *   message whose copy has this index key starts with the same digest.
 */
export function indexKey(fields: HeaderField[]): string {
  const id = messageIdOf(fields);
  if (id !== undefined) return `mid:${escapeKeyBytes(id)}`;
  return `fh:${fallbackHeaderDigest(fields)}`;
}

/**
 * Whether a dedup key is a fallback key (`fb:`: no Message-ID, headers and
 * body digests), which headers alone cannot prove: a copy found by it must
 * be compared by content.
 */
export function isFallbackKey(key: string): boolean {
  return key.startsWith('fb:');
}

/** The index key under which a copy with key `key` is found (see indexKey). */
export function indexKeyOf(key: string): string {
  if (!isFallbackKey(key)) return key;
  const dot = key.indexOf('.');
  return dot === -1 ? key : `fh:${key.slice(3, dot)}`;
}

/**
 * The dedup key of a message.
 *
 * With a Message-ID (see normalizeMessageId): `mid:` and the normalised
 * Message-ID, every byte kept, bytes outside printable ASCII and `%`
 * percent-escaped (escapeKeyBytes). NUL counts as 0x80 here and in the
 * fallback fields, since no header FETCH can show it (see withoutNul).
 * Messages that share a Message-ID share the key whatever their content.
 *
 * Without one, and `message` is the whole message: `fb:`, the header digest,
 * `.`, the body digest. The header digest is the first 32 hex digits of the
 * SHA-256 of the first Date, From, To, Cc and Subject values (unfolded, CRs
 * removed, SP/HTAB runs made one SP, trimmed; absent = empty) joined by LF;
 * the body digest is bodyDigest. Neither depends on the size or on any other
 * header field, so a copy keeps its key when the server adds Status, X-UID,
 * X-IMAPbase or X-UIDL headers (Mailutils) or rewrites its line ends.
 *
 * Given only a size (header fields without the body, as from a header
 * FETCH or TOP): `fb:`, the header digest, `/` and the size in octets
 * instead of the body digest. That form is comparable only with itself:
 * equal headers and size do not prove equal content, and servers change
 * sizes on storage.
 */
export function identityKey(fields: HeaderField[], messageOrSize: Buffer | number): string {
  if (typeof messageOrSize === 'number' && (!Number.isSafeInteger(messageOrSize) || messageOrSize < 0)) {
    throw new RangeError(`message size must be a non-negative integer, got ${messageOrSize}`);
  }
  const id = messageIdOf(fields);
  if (id !== undefined) return `mid:${escapeKeyBytes(id)}`;
  const headers = fallbackHeaderDigest(fields);
  if (typeof messageOrSize === 'number') return `fb:${headers}/${messageOrSize}`;
  return `fb:${headers}.${bodyDigest(messageOrSize)}`;
}

/** Another key a copy of the message may carry, and the server change that gives it. */
export interface AlternativeKey {
  key: string;
  change: string;
}

/**
 * The keys a copy of `message` carries on a server that applied one of
 * HEADER_REWRITES to its header bytes, each once, without the key itself.
 * Empty for a message whose key fields have no byte a rewrite changes (the
 * usual case). A match through one of these is as good as the server's
 * rewrite: on a server that stores 8-bit header bytes as X, two messages
 * whose Message-IDs differ only in their 8-bit bytes cannot be told apart
 * by any key.
 */
export function alternativeKeys(fields: HeaderField[], message: Buffer): AlternativeKey[] {
  return contentKeys(fields, message).alternatives;
}

/**
 * identityKey of the whole message and its alternativeKeys at once, the
 * body digested once (the engine needs both for every message it reads).
 */
export function contentKeys(fields: HeaderField[], message: Buffer): { key: string; alternatives: AlternativeKey[] } {
  const id = messageIdOf(fields);
  const body = id === undefined ? bodyDigest(message) : '';
  const keyUnder = (rewrite?: HeaderRewrite): string =>
    id !== undefined
      ? `mid:${escapeKeyBytes(rewrite === undefined ? id : rewrite.apply(id))}`
      : `fb:${fallbackHeaderDigest(fields, rewrite)}.${body}`;
  const key = keyUnder();
  const alternatives: AlternativeKey[] = [];
  for (const rewrite of HEADER_REWRITES) {
    const alt = keyUnder(rewrite);
    if (alt !== key && !alternatives.some((a) => a.key === alt)) alternatives.push({ key: alt, change: rewrite.name });
  }
  return { key, alternatives };
}

/** The header-and-size key of a complete message (see identityKey with a size). */
export function keyOfMessage(message: Buffer): string {
  return identityKey(parseHeaders(headerBlock(message)), message.length);
}

/** The full key of a complete message (see identityKey with the message). */
export function contentKeyOfMessage(message: Buffer): string {
  return identityKey(parseHeaders(headerBlock(message)), message);
}
