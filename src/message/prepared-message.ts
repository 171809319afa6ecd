/**
 * Everything poplift derives from one source message before uploading it:
 * its dedup key, the IMAP flags its headers record, and its internal date.
 * The bytes themselves are never touched.
 */
import { flagsFromHeaders } from './flags.js';
import { headerBlock, parseHeaders, type HeaderField } from './headers.js';
import { contentKeys, identityKey } from './identity-key.js';
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
  /** Other keys a copy may carry on a server that rewrites header bytes (see identity-key's alternativeKeys). */
  altKeys: string[];
  /**
   * The sizes a server that folds CR runs before LF (Dovecot among them)
   * may report for the copy, besides the message's own.
   */
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

/**
 * The identity key of a complete message, the keys a server's rewriting of
 * header bytes may give its copy, and the sizes a CR-folding server may
 * give it.
 * @param size the message's whole size, when `content` is only its header
 *   section: then the key is made from its headers and that size, and no
 *   alternatives can be worked out
 */
export function messageKeys(content: Buffer, size?: number): MessageKeys {
  const fields = parseHeaders(headerBlock(content));
  if (size !== undefined) return { fields, key: identityKey(fields, size), altKeys: [], altSizes: [] };
  const { key, alternatives } = contentKeys(fields, content);
  return { fields, key, altKeys: alternatives.map((a) => a.key), altSizes: crFoldedSizes(content) };
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
