/**
 * The destination folder's dedup index: each message under its index key
 * (message/identity-key.ts), computed here from the header fields the key
 * needs, so every store is keyed alike. Finding copies in it: CopyLookup.
 */
import { parseHeaders } from '../message/headers.js';
import { indexKey, KEY_HEADER_FIELDS } from '../message/identity-key.js';
import type { FolderIndex, FolderScan } from '../store/mail-store.js';

/** A scan that adds each message it is handed to `index`. */
export function scanIndex(index: FolderIndex): FolderScan {
  return {
    fields: KEY_HEADER_FIELDS,
    each({ uid, size, headers }) {
      const key = indexKey(parseHeaders(headers));
      const entry = { uid, size };
      const list = index.get(key);
      if (list) list.push(entry);
      else index.set(key, [entry]);
    },
  };
}
