import { afterEach, describe, expect, it } from 'vitest';
import { JournalFile, mail, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';
import { expectEachOnce, stored } from '../stores/invariants.js';

function setup(count: number) {
  const messages = mails(count);
  const mailbox = new MemoryMailbox(messages);
  const account = new MemoryImapServer();
  return { messages, mailbox, account, endpoints: memoryEndpoints(mailbox, account) };
}

const journals: JournalFile[] = [];
afterEach(() => {
  for (const j of journals.splice(0)) j.remove();
});

describe('a message that makes progress impossible (a poison message)', () => {
  it('POP3: a message whose RETR always drops the session fails after --retries drops, and the rest moves', async () => {
    const { messages, mailbox, account, endpoints } = setup(10);
    mailbox.faults.killers.add('u3');
    const { summary } = await migrate(endpoints, migrateOptions({ retries: 3 }));
    expect(summary).toMatchObject({ found: 10, appended: 9, failed: 1, stopReason: undefined });
    expect(summary.failures).toHaveLength(1);
    expect(summary.failures[0]).toMatchObject({ uidl: 'u3', side: 'POP3' });
    expect(summary.failures[0]!.reason).toMatch(/drop/);
    expect(mailbox.kills).toBe(3);
    expectEachOnce(
      account,
      messages.filter((_, i) => i !== 2),
    );
  });

  it('IMAP: a message whose APPEND always kills the connection fails after --retries drops, and the rest moves', async () => {
    const { messages, account, endpoints } = setup(10);
    const poison = messages[4]!;
    account.faults.killers = (content) => content.equals(poison);
    const { summary } = await migrate(endpoints, migrateOptions({ retries: 3, batchMessages: 4 }));
    expect(summary).toMatchObject({ found: 10, appended: 9, duplicates: 0, failed: 1, stopReason: undefined });
    expect(summary.failures[0]).toMatchObject({ uidl: 'u5', side: 'IMAP' });
    expect(summary.failures[0]!.reason).toMatch(/drop/);
    // The first drop took its whole batch down and named none of it; after that each went alone,
    // and only the poison message dropped the connection, 3 more times.
    expect(account.kills).toBe(4);
    expectEachOnce(
      account,
      messages.filter((m) => !m.equals(poison)),
    );
  });

  it('a server that resets every 7 RETRs still lets one run move the whole mailbox', async () => {
    const { messages, mailbox, account, endpoints } = setup(60);
    mailbox.faults.drops = Array.from({ length: 40 }, () => ({ afterMessages: 7 }));
    const { summary } = await migrate(endpoints, migrateOptions({ retries: 3 }));
    expect(summary).toMatchObject({ found: 60, appended: 60, failed: 0, stopReason: undefined });
    expect(summary.reconnects).toBeGreaterThan(3);
    expectEachOnce(account, messages);
  });

  it('after 3 runs in a row that failed on it, a poison message is skipped without a try, reported failed, and --retry-failed tries it again', async () => {
    const { messages, mailbox, account, endpoints } = setup(6);
    mailbox.faults.killers.add('u2');
    const journal = new JournalFile();
    journals.push(journal);
    const run = (retryFailed = false) => journal.with((j) => migrate(endpoints, migrateOptions({ retries: 2, journal: j, retryFailed })));
    for (let i = 1; i <= 3; i++) {
      const { summary } = await run();
      expect(summary).toMatchObject({ failed: 1 });
      expect(mailbox.kills).toBe(2 * i);
    }
    const fourth = await run();
    expect(mailbox.kills).toBe(6);
    expect(fourth.summary).toMatchObject({ found: 6, appended: 0, failed: 1, knownFromJournal: 5 });
    expect(fourth.summary.failures[0]).toMatchObject({ uidl: 'u2', side: 'POP3' });
    expect(fourth.summary.failures[0]!.reason).toMatch(/3 runs in a row.*--retry-failed/);

    // Asked to, the run tries it again; once the server sends it, it moves.
    mailbox.faults.killers.clear();
    const retried = await run(true);
    expect(retried.summary).toMatchObject({ appended: 1, failed: 0 });
    expectEachOnce(account, messages);
    expect(journal.load().poisoned.size).toBe(0);
  });

  it('a poisoned id the server now gives to a message of another size is tried', async () => {
    const { mailbox, account, endpoints } = setup(3);
    mailbox.faults.killers.add('u2');
    const journal = new JournalFile();
    journals.push(journal);
    const run = () => journal.with((j) => migrate(endpoints, migrateOptions({ retries: 1, journal: j })));
    for (let i = 0; i < 3; i++) await run();
    expect(journal.load().poisoned.get('u2')).toBe(3);
    mailbox.faults.killers.clear();
    const other = mail('another, longer message');
    mailbox.messages[1] = { uidl: 'u2', content: other };
    const { summary } = await run();
    expect(summary).toMatchObject({ appended: 1, failed: 0 });
    expect(stored(account).some((m) => m.equals(other))).toBe(true);
  });

  it('a message that failed in fewer runs in a row than the limit is tried again', async () => {
    const { mailbox, endpoints } = setup(3);
    mailbox.faults.killers.add('u1');
    const journal = new JournalFile();
    journals.push(journal);
    const run = () => journal.with((j) => migrate(endpoints, migrateOptions({ retries: 1, journal: j })));
    await run();
    await run();
    expect(mailbox.kills).toBe(2);
    expect(journal.load().poisoned.get('u1')).toBe(2);
  });
});
