/**
 * The engine against servers that break their protocol in ways the property
 * test also generates: broken UIDLs, non-atomic MULTIAPPEND, uploads
 * answered OK but not stored, and distinct messages that share a key.
 */
import { describe, expect, it } from 'vitest';
import { JournalFile, mail, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';
import { expectDeletedOnlyWhatIsCopied, expectEachOnce } from '../stores/invariants.js';

/** Messages of one size, none with a Message-ID: only the POP3 UIDL tells them apart. */
function sameSize(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => mail(i + 1, { messageId: false }));
}

describe('the engine against broken UIDLs', () => {
  // UIDLs equal to the message numbers shift when a delete phase commits in the middle of a run; the
  // next session's "3" is another message of the same size. Shrunk from the property test.
  it('numeric UIDLs with --delete: nothing uncopied is deleted when numbers shift within a run', async () => {
    const messages = sameSize(4);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ uidPlus: false });
    mailbox.faults.numericUidls = true;
    mailbox.faults.unreadable = new Set(['u4']);
    account.faults.refuseNext = 1;
    await migrate(memoryEndpoints(mailbox, account), migrateOptions({ delete: true, deleteEvery: 1, batchMessages: 1, retries: 3 })).catch(
      () => undefined,
    );
    expectDeletedOnlyWhatIsCopied(mailbox, account);
  });

  // Engine bug: while two messages list one UIDL, the journal records what became of that UIDL (a
  // duplicate of the key it shares with a message on the destination); once the server lists UIDLs
  // right again, the other message, with that UIDL, the same key and size but other bytes, is skipped
  // on the journal's word and deleted uncopied. Shrunk from the property test.
  it('a repeated UIDL does not leave a journal entry that deletes another message later', async () => {
    const v1 = mail('same', { messageId: false, body: 'backup OK\r\n' });
    const v2 = mail('same', { messageId: false, body: 'backup KO\r\n' });
    const mailbox = new MemoryMailbox([v1, v1, v2]);
    const account = new MemoryImapServer({ uidPlus: false });
    account.addFolder('Archive', [v1]);
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      mailbox.faults.uidls = new Map([['u2', 'u3']]);
      account.faults.quotaBytes = account.storedBytes();
      const options = migrateOptions({ delete: true, deleteEvery: 1, batchMessages: 1, retries: 3 });
      await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch(() => undefined);
      mailbox.faults.uidls = new Map();
      account.faults.quotaBytes = undefined;
      await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch(() => undefined);
      expectDeletedOnlyWhatIsCopied(mailbox, account);
    } finally {
      journal.remove();
    }
  });

  it.each([
    ['a missing UIDL line', null],
    ['a UIDL repeated', 'u3'],
    ['a UIDL with a space', 'x u2'],
    ['a UIDL with an 8-bit character', 'u2\xe9'],
  ] as const)('%s: copies everything, deletes only what it can identify', async (_, line) => {
    const messages = sameSize(4);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    mailbox.faults.uidls = new Map([['u2', line]]);
    const endpoints = memoryEndpoints(mailbox, account);
    await migrate(endpoints, migrateOptions({ delete: true, deleteEvery: 1, batchMessages: 1 })).catch(() => undefined);
    expectDeletedOnlyWhatIsCopied(mailbox, account);
    expect(mailbox.messages.map((m) => m.uidl)).toContain('u2');
    expectEachOnce(account, messages);
  });
});

describe('the engine against a non-atomic MULTIAPPEND', () => {
  // What the server kept of a refused batch must be looked up before its messages go again one by one;
  // after a POP3 reconnect an exact copy of such a message was uploaded again. Shrunk from the property test.
  it('an exact copy of a message the refused batch stored is not uploaded again after a reconnect', async () => {
    const a = mail('a', { messageId: false });
    const b = mail('b', { messageId: false });
    const mailbox = new MemoryMailbox([a, b, a]);
    const account = new MemoryImapServer({ uidPlus: false });
    mailbox.faults.drops = [{ afterCommands: 4 }];
    account.faults.partialBatches = [1];
    await migrate(memoryEndpoints(mailbox, account), migrateOptions({ multiAppend: true, batchMessages: 2, retries: 3 })).catch(
      () => undefined,
    );
    expect(account.allMessages().filter((m) => m.content.equals(a))).toHaveLength(1);
  });

  // With --dedupe none the next run sent again what the refused batch stored.
  it('with --dedupe none, the next run does not send again what the refused batch stored', async () => {
    const messages = sameSize(2);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ uidPlus: false });
    account.faults.partialBatches = [1];
    const endpoints = memoryEndpoints(mailbox, account);
    const options = migrateOptions({ dedupe: false, multiAppend: true, batchMessages: 2, retries: 3 });
    // --dedupe none leaves it to the journal to know what was stored, as the CLI keeps one.
    const journal = new JournalFile();
    try {
      await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch(() => undefined);
      await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch(() => undefined);
    } finally {
      journal.remove();
    }
    expectEachOnce(account, messages);
  });

  it('a batch stored in part and then refused is not stored twice', async () => {
    const messages = sameSize(4);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    account.faults.partialBatches = [2];
    const endpoints = memoryEndpoints(mailbox, account);
    await migrate(endpoints, migrateOptions({ multiAppend: true, batchMessages: 4, retries: 3 })).catch(() => undefined);
    await migrate(endpoints, migrateOptions({ multiAppend: true, batchMessages: 4 }));
    expectEachOnce(account, messages);
  });
});

describe('the engine against uploads answered OK but not stored', () => {
  it.each([true, false])('with a UID %s: a later run finds them missing and sends them again', async (withUid) => {
    const messages = sameSize(3);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    account.faults.lostNext = 2;
    account.faults.lostWithUid = withUid;
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      for (let i = 0; i < 3; i++) {
        await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j }))).catch(() => undefined);
        expectDeletedOnlyWhatIsCopied(mailbox, account);
      }
      expectEachOnce(account, messages);
    } finally {
      journal.remove();
    }
  });
});

describe('the engine against distinct messages sharing a key', () => {
  it.each([true, false])('Message-ID %s: both are copied, or the one skipped stays on the source', async (withId) => {
    const a = mail('same', { messageId: withId, body: 'pay 100 EUR\r\n' });
    const b = mail('same', { messageId: withId, body: 'pay 900 EUR\r\n' });
    const mailbox = new MemoryMailbox([a, b]);
    const account = new MemoryImapServer();
    await migrate(memoryEndpoints(mailbox, account), migrateOptions({ delete: true, deleteEvery: 1 })).catch(() => undefined);
    expectDeletedOnlyWhatIsCopied(mailbox, account);
    for (const m of [a, b]) {
      const copied = account.allMessages().some((s) => s.content.equals(m));
      const kept = mailbox.messages.some((s) => s.content.equals(m));
      expect(copied || kept).toBe(true);
    }
  });
});
