/** The flags a folder keeps, as a read-write SELECT tells them (RFC 3501 PERMANENTFLAGS, RFC 7889 APPENDLIMIT). */
import type { MailboxObject } from 'imapflow';
import type { FolderInfo } from '../store/mail-store.js';

const SYSTEM_FLAGS = new Set(['\\SEEN', '\\ANSWERED', '\\FLAGGED', '\\DRAFT', '\\DELETED']);

/** What a read-write SELECT says about the flags a folder keeps and its size limit; `globalLimit` is the APPENDLIMIT capability's value. */
export function flagsOf(mailbox: MailboxObject, folder: FolderInfo, globalLimit: boolean | number | undefined): FolderInfo {
  const permanentFlags = mailbox.permanentFlags;
  const star = permanentFlags?.has('\\*') ?? true;
  return {
    ...folder,
    permanentFlags: star || !permanentFlags || permanentFlags.size === 0 ? undefined : permanentFlags,
    acceptsNewKeywords: star,
    appendLimit: mailbox.appendlimit ?? (typeof globalLimit === 'number' ? globalLimit : undefined),
    flagsKnown: true,
  };
}

/** Whether the folder keeps this flag (system flags are always kept unless PERMANENTFLAGS says otherwise). */
export function acceptsFlag(folder: FolderInfo, flag: string): boolean {
  if (!folder.permanentFlags) return true;
  for (const f of folder.permanentFlags) if (f.toUpperCase() === flag.toUpperCase()) return true;
  if (SYSTEM_FLAGS.has(flag.toUpperCase())) return false;
  return folder.acceptsNewKeywords;
}
