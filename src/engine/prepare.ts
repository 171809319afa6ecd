/**
 * Everything poplift derives from one source message before uploading it:
 * its dedup key, the IMAP flags its headers record, and its internal date.
 * The bytes themselves are never touched.
 */
import { flagsFromHeaders } from '../message/flags.js';
import { headerBlock, parseHeaders, type HeaderField } from '../message/headers.js';
import { identityKey } from '../message/identity-key.js';
import { internalDate, type DateMode } from '../message/internal-date.js';

export interface PrepareOptions {
  /** Added to every message (--flags, --mark-seen). */
  extraFlags: readonly string[];
  keepDeletedFlag: boolean;
  dateMode: DateMode;
}

export interface PreparedMessage {
  key: string;
  /**
   * Other keys the destination copy may carry. Some servers (Dovecot among
   * them) store CR CR LF as CR LF, which changes the size in a fallback key.
   */
  altKeys: string[];
  /** The sizes such a server may report for this message, besides its own. */
  altSizes: number[];
  flags: string[];
  invalidKeywords: string[];
  date: Date | undefined;
  dateSource: 'received' | 'date' | 'server';
}

/** The identity of a message as the destination may hold it (see PreparedMessage). */
export interface MessageKeys {
  fields: HeaderField[];
  key: string;
  altKeys: string[];
  altSizes: number[];
}

/** The dedup key of a complete message, and the keys and sizes a CR-folding server may give its copy. */
export function messageKeys(content: Buffer): MessageKeys {
  const fields = parseHeaders(headerBlock(content));
  const key = identityKey(fields, content.length);
  const altSizes = crFoldedSizes(content);
  return { fields, key, altKeys: key.startsWith('fb:') ? altSizes.map((size) => identityKey(fields, size)) : [], altSizes };
}

export function prepareMessage(content: Buffer, options: PrepareOptions): PreparedMessage {
  const { fields, key, altKeys, altSizes } = messageKeys(content);
  const mapped = flagsFromHeaders(fields, { keepDeletedFlag: options.keepDeletedFlag });
  const flags = [...mapped.flags];
  for (const extra of options.extraFlags) {
    if (!flags.some((f) => f.toUpperCase() === extra.toUpperCase())) flags.push(extra);
  }
  const date = internalDate(fields, options.dateMode);
  return {
    key,
    altKeys,
    altSizes,
    flags,
    invalidKeywords: mapped.invalidKeywords,
    date: date.date,
    dateSource: date.source,
  };
}

/**
 * Sizes the message may have after a server rewrote runs of CRs before LF:
 * each run folded to one CR, or one CR dropped from each run (Dovecot's
 * maildir storage turns CR CR LF into CR LF and CR CR CR LF into CR CR LF).
 * Empty when the message has no such run.
 */
export function crFoldedSizes(content: Buffer): number[] {
  if (!content.includes('\r\r\n')) return [];
  let foldAll = 0;
  let dropOne = 0;
  for (let lf = content.indexOf(0x0a); lf >= 0; lf = content.indexOf(0x0a, lf + 1)) {
    let cr = lf;
    while (cr > 0 && content[cr - 1] === 0x0d) cr--;
    if (lf - cr > 1) {
      foldAll += lf - cr - 1;
      dropOne += 1;
    }
  }
  return [...new Set([content.length - foldAll, content.length - dropOne])];
}

/**
 * `content` with every run of CRs right before an LF folded to one CR: the
 * form in which a message and a copy a server stored with CR runs rewritten
 * (see crFoldedSizes) are equal. The same buffer when there is no such run.
 */
export function foldCrRuns(content: Buffer): Buffer {
  let found = content.indexOf('\r\r\n');
  if (found === -1) return content;
  const parts: Buffer[] = [];
  let start = 0;
  while (found !== -1) {
    // A match of CR CR LF ends at the LF of a run of two or more CRs; keep the run's first CR only.
    const lf = found + 2;
    let first = found;
    while (first > start && content[first - 1] === 0x0d) first--;
    parts.push(content.subarray(start, first + 1));
    start = lf;
    found = content.indexOf('\r\r\n', lf);
  }
  parts.push(content.subarray(start));
  return Buffer.concat(parts);
}
