/**
 * What every engine test checks of a run's outcome, in one place: no
 * message missing or doubled in the folder, nothing deleted from the source
 * that the folder does not hold byte for byte.
 */
import { expect } from 'vitest';
import type { MemoryImapServer } from './memory-destination.js';
import type { MemoryMailbox } from './memory-source.js';

/** The folder's messages, as stored, in UID order. */
export function stored(account: MemoryImapServer, folder = 'Archive'): Buffer[] {
  return (account.folders.get(folder)?.messages ?? []).map((m) => m.content);
}

/**
 * Every one of `messages` is in the folder exactly once, byte for byte, and
 * nothing else is. The same mail listed twice (a true duplicate) counts once.
 */
export function expectEachOnce(account: MemoryImapServer, messages: readonly Buffer[], folder = 'Archive'): void {
  const inFolder = stored(account, folder);
  for (const m of messages) expect(inFolder.filter((s) => s.equals(m))).toHaveLength(1);
  expect(inFolder).toHaveLength(new Set(messages.map((m) => m.toString('latin1'))).size);
}

/** Nothing left the source that is not in some folder byte for byte. */
export function expectDeletedOnlyWhatIsCopied(mailbox: MemoryMailbox, account: MemoryImapServer): void {
  for (const gone of mailbox.removed) expect(account.allMessages().some((m) => m.content.equals(gone.content))).toBe(true);
}
