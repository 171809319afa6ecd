/**
 * Everything poplift derives from one source message before uploading it:
 * its dedup key, the IMAP flags its headers record, and its internal date.
 * The bytes themselves are never touched.
 */
import { flagsFromHeaders } from './flags.js';
import { headerBlock, parseHeaders, type HeaderField } from './headers.js';
import { identityKey } from './identity-key.js';
import { internalDate, type DateMode } from './internal-date.js';
import { crFoldedSizes } from './cr-runs.js';

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
/**
 * @param size the message's whole size, when `content` is only its header
 *   section (then no rewritten sizes can be worked out)
 */
export function messageKeys(content: Buffer, size?: number): MessageKeys {
  const fields = parseHeaders(headerBlock(content));
  const key = identityKey(fields, size ?? content.length);
  const altSizes = size === undefined ? crFoldedSizes(content) : [];
  return { fields, key, altKeys: key.startsWith('fb:') ? altSizes.map((size) => identityKey(fields, size)) : [], altSizes };
}

/** See messageKeys for `size`: everything but the rewritten sizes comes from the headers. */
export function prepareMessage(content: Buffer, options: PrepareOptions, size?: number): PreparedMessage {
  const { fields, key, altKeys, altSizes } = messageKeys(content, size);
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
