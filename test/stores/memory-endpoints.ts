/** StoreEndpoints over an in-memory mailbox and account: each connect is a new session on the same state. */
import type { StoreEndpoints } from '../../src/store/mail-store.js';
import type { MemoryImapServer } from './memory-destination.js';
import type { MemoryMailbox } from './memory-source.js';

export function memoryEndpoints(mailbox: MemoryMailbox, account: MemoryImapServer): StoreEndpoints {
  return {
    sourceLabel: `pop3://alice@${mailbox.server}`,
    destinationLabel: `imap://alice@${account.server}`,
    connectSource: (options) => mailbox.connect(options),
    connectDestination: () => account.connect(),
  };
}
