/**
 * IMAP flags recovered from the headers that mail stores and clients write
 * into messages (POP3 itself has no flags), and the flag list given on the
 * command line.
 */

import type { HeaderField } from './headers.js';

export interface FlagOptions {
  /**
   * Whether a message marked deleted at the source becomes `\Deleted` on the
   * destination. Off by default in the CLI: an IMAP client that expunges
   * would then destroy mail the user may still want.
   */
  keepDeletedFlag: boolean;
}

export interface MessageFlags {
  /** System flags in canonical order, then keywords in order of first appearance; no duplicates. */
  flags: string[];
  /** Keywords found in the headers that are not IMAP atoms, for a warning. */
  invalidKeywords: string[];
  /** X-Status `D` or X-Mozilla-Status bit 0x0008, whether or not `\Deleted` is kept. */
  markedDeleted: boolean;
}

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Draft', '\\Deleted'] as const;
type SystemFlag = (typeof SYSTEM_FLAGS)[number];

const SYSTEM_BY_LOWER = new Map<string, SystemFlag>(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));

const X_STATUS_LETTERS: Record<string, SystemFlag> = { a: '\\Answered', f: '\\Flagged', t: '\\Draft' };

const MOZILLA_BITS: [number, SystemFlag][] = [
  [0x0001, '\\Seen'],
  [0x0002, '\\Answered'],
  [0x0004, '\\Flagged'],
];
const MOZILLA_EXPUNGED = 0x0008;
const MOZILLA_FORWARDED = 0x1000;

/**
 * RFC 3501 atom: one or more CHARs other than atom-specials, i.e. printable
 * ASCII except `( ) { SP % * " \ ]`. Excluding `\` also keeps system-flag
 * names (and the non-settable `\Recent`) out of the keywords.
 */
export function isValidKeyword(s: string): boolean {
  return /^[\x21-\x7e]+$/.test(s) && !/[(){%*"\\\]]/.test(s);
}

/**
 * Maps Status, X-Status, X-Mozilla-Status, X-Keywords and X-Mozilla-Keys to
 * IMAP flags, as the union over every occurrence of each header.
 *
 * - Status: `R` → `\Seen` (`O` only means "not new").
 * - X-Status: `A` → `\Answered`, `F` → `\Flagged`, `T` → `\Draft`, `D` → deleted.
 * - X-Mozilla-Status: exactly 4 hex digits; 0x0001 `\Seen`, 0x0002
 *   `\Answered`, 0x0004 `\Flagged`, 0x0008 deleted, 0x1000 `$Forwarded`.
 *   Any other value is ignored rather than guessed at.
 * - X-Keywords / X-Mozilla-Keys: words separated by SP, HTAB and/or commas.
 *
 * Letters match in any case. "Deleted" always sets `markedDeleted`, and adds
 * `\Deleted` only with `keepDeletedFlag`. Keywords are de-duplicated
 * case-insensitively (IMAP servers compare them that way), keeping the first
 * spelling.
 */
export function flagsFromHeaders(fields: HeaderField[], options: FlagOptions): MessageFlags {
  const system = new Set<SystemFlag>();
  const keywords = new Map<string, string>();
  const invalid = new Set<string>();
  let markedDeleted = false;

  const addKeyword = (word: string): void => {
    if (!isValidKeyword(word)) {
      invalid.add(word);
      return;
    }
    const lower = word.toLowerCase();
    if (!keywords.has(lower)) keywords.set(lower, word);
  };

  for (const { name, value } of fields) {
    switch (name.toLowerCase()) {
      case 'status':
        if (/r/i.test(value)) system.add('\\Seen');
        break;
      case 'x-status':
        for (const letter of value.toLowerCase()) {
          const flag = X_STATUS_LETTERS[letter];
          if (flag !== undefined) system.add(flag);
          else if (letter === 'd') markedDeleted = true;
        }
        break;
      case 'x-mozilla-status': {
        const text = value.trim();
        if (!/^[0-9a-f]{4}$/i.test(text)) break;
        const bits = Number.parseInt(text, 16);
        for (const [bit, flag] of MOZILLA_BITS) if (bits & bit) system.add(flag);
        if (bits & MOZILLA_EXPUNGED) markedDeleted = true;
        if (bits & MOZILLA_FORWARDED) addKeyword('$Forwarded');
        break;
      }
      case 'x-keywords':
      case 'x-mozilla-keys':
        for (const word of value.split(/[ \t,]+/)) if (word !== '') addKeyword(word);
        break;
    }
  }
  if (markedDeleted && options.keepDeletedFlag) system.add('\\Deleted');

  return {
    flags: [...SYSTEM_FLAGS.filter((f) => system.has(f)), ...keywords.values()],
    invalidKeywords: [...invalid],
    markedDeleted,
  };
}

/**
 * Parses a user-given flag list such as `'\Seen $Imported'`: whitespace
 * separated, the five settable system flags in any case (returned in
 * canonical case) and keywords that are IMAP atoms, in the given order
 * without case-insensitive duplicates. Throws an Error naming the first bad
 * flag, since a typo here would otherwise be rejected by the server for
 * every message.
 */
export function parseFlagList(text: string): string[] {
  const result: string[] = [];
  const seen = new Set<string>();
  for (const token of text.split(/\s+/)) {
    if (token === '') continue;
    let flag: string;
    if (token.startsWith('\\')) {
      const system = SYSTEM_BY_LOWER.get(token.toLowerCase());
      if (system === undefined) {
        throw new Error(`"${token}" is not a flag poplift can set: use ${SYSTEM_FLAGS.join(' ')} or a keyword`);
      }
      flag = system;
    } else if (isValidKeyword(token)) {
      flag = token;
    } else {
      throw new Error(`"${token}" is not a valid IMAP keyword: keywords are ASCII without spaces or ( ) { % * " \\ ]`);
    }
    const lower = flag.toLowerCase();
    if (seen.has(lower)) continue;
    seen.add(lower);
    result.push(flag);
  }
  return result;
}
