/**
 * The dedup key that says "this message is already on the destination".
 *
 * The POP3 side has the full message bytes; the IMAP side fetches only
 * BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)] and
 * RFC822.SIZE. The key is therefore defined over those header fields and the
 * size alone, so both sides compute it from the same bytes.
 */

import { createHash } from 'node:crypto';
import { firstHeader, headerBlock, parseHeaders, trimWsp, type HeaderField } from './headers.js';

/** The fields the key depends on, lower-case, in the order the IMAP side should request them. */
export const KEY_HEADER_FIELDS = ['message-id', 'date', 'from', 'to', 'cc', 'subject'] as const;

const FALLBACK_FIELDS = ['date', 'from', 'to', 'cc', 'subject'] as const;

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
 * Header fetches do not always return the stored bytes: Dovecot IMAP sends
 * NUL as 0x80, Zimbra and Yahoo send 8-bit bytes as `?` (Yahoo one `?` per
 * UTF-8 sequence), Zimbra strips blanks at line ends. Dovecot's own
 * pop3-migration plugin, which matches POP3 and IMAP copies of a message,
 * hashes headers the same way for that reason: every run of control, 8-bit
 * and `?` characters becomes a single `?`.
 */
function collapseUnsafeBytes(s: string): string {
  return s.replace(/[^\x20-\x3e\x40-\x7e]+/g, '?');
}

/** Fallback values also lose SP and HTAB, since a server may strip them before a fold. */
function canonicalFallbackValue(value: string): string {
  return collapseUnsafeBytes(value.replace(/[ \t]+/g, ''));
}

/**
 * `mid:` and the normalised first Message-ID (see normalizeMessageId) with
 * each run of control, 8-bit and `?` characters replaced by one `?`.
 *
 * Without a usable Message-ID: `fb:` and the SHA-256 hex of the first Date,
 * From, To, Cc and Subject values (absent = empty) and the decimal size in
 * octets, joined by LF. Each value is canonicalised first: SP and HTAB
 * removed, then each run of control, 8-bit and `?` characters replaced by
 * one `?`. Unfolded values cannot contain LF, so the join is unambiguous;
 * the size and the five fields together keep distinct messages apart even
 * though the canonical form is lossy.
 *
 * The canonicalisation makes the key survive the header rewriting some IMAP
 * servers apply to FETCH responses (see collapseUnsafeBytes): a mismatch
 * there would make every re-run append the message again.
 */
export function identityKey(fields: HeaderField[], size: number): string {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`message size must be a non-negative integer, got ${size}`);
  }
  const rawId = firstHeader(fields, 'message-id');
  const id = rawId === undefined ? undefined : normalizeMessageId(rawId);
  if (id !== undefined) return `mid:${collapseUnsafeBytes(id)}`;

  const parts = FALLBACK_FIELDS.map((name) => canonicalFallbackValue(firstHeader(fields, name) ?? ''));
  parts.push(String(size));
  const digest = createHash('sha256').update(parts.join('\n'), 'latin1').digest('hex');
  return `fb:${digest}`;
}

/** The key of a complete message as retrieved from the source. */
export function keyOfMessage(message: Buffer): string {
  return identityKey(parseHeaders(headerBlock(message)), message.length);
}
