import { describe, expect, it } from 'vitest';
import { summaryExitCode } from '../../src/engine/summary.js';
import { JournalFile, mail, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer, type UploadDrop } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox, type DropFault } from '../stores/memory-source.js';
import { expectDeletedOnlyWhatIsCopied, expectEachOnce } from '../stores/invariants.js';

function setup(count: number, options: { uidPlus?: boolean } = {}) {
  const messages = mails(count);
  const mailbox = new MemoryMailbox(messages);
  const account = new MemoryImapServer({ uidPlus: options.uidPlus });
  return { messages, mailbox, account, endpoints: memoryEndpoints(mailbox, account) };
}

describe('the engine after a dropped connection', () => {
  const sourceDrops: Array<[string, DropFault]> = [
    ['after 3 messages', { afterMessages: 3 }],
    ['after 500 octets', { afterBytes: 500 }],
    ['after 5 commands', { afterCommands: 5 }],
    ['at its first RETR', { afterCommands: 2 }],
  ];
  it.each(sourceDrops)('POP3 %s: reconnects and goes on where it was', async (_, drop) => {
    const { messages, mailbox, account, endpoints } = setup(10);
    mailbox.faults.drops = [drop, drop];
    const { summary, warnings } = await migrate(endpoints, migrateOptions({ batchMessages: 2 }));
    expect(summary).toMatchObject({ found: 10, appended: 10, failed: 0, stopReason: undefined });
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    expect(warnings.some((w) => w.includes('Reconnecting'))).toBe(true);
    expectEachOnce(account, messages);
    // Resumed, not restarted: only messages read but not yet settled are read again.
    expect(mailbox.retrieved).toBeLessThan(20);
  });

  const destinationDrops: Array<[string, UploadDrop]> = [
    ['after 3 uploads, the 4th not stored', { afterUploads: 3, stored: false }],
    ['after 3 uploads, the 4th stored but its reply lost', { afterUploads: 3, stored: true }],
    ['after 600 octets uploaded, stored', { afterBytes: 600, stored: true }],
    ['after 4 commands, stored', { afterCommands: 4, stored: true }],
    ['at the folder scan', { afterCommands: 3 }],
  ];
  it.each(destinationDrops)('IMAP %s: reconnects, and stores nothing twice', async (_, drop) => {
    const { messages, account, endpoints } = setup(10);
    account.faults.drops = [drop, drop];
    const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 3 }));
    expect(summary).toMatchObject({ found: 10, appended: 10, duplicates: 0, failed: 0, stopReason: undefined });
    expect(summary.reconnects).toBeGreaterThanOrEqual(1);
    expectEachOnce(account, messages);
  });

  it('an upload whose reply was lost is looked up, counted as appended, and proven for --delete', async () => {
    for (const uidPlus of [true, false]) {
      const { messages, mailbox, account, endpoints } = setup(6, { uidPlus });
      account.faults.drops = [{ afterUploads: 2, stored: true }];
      const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 6, delete: true }));
      expect(summary).toMatchObject({ appended: 6, duplicates: 0, deleted: 6 });
      expectEachOnce(account, messages);
      expect(mailbox.messages).toEqual([]);
      expectDeletedOnlyWhatIsCopied(mailbox, account);
    }
  });

  // README promises "an upload whose reply was lost is looked up on the destination before anything is sent
  // again", whatever --dedupe says.
  it('with --dedupe none, an upload whose reply was lost is not stored twice', async () => {
    const { messages, account, endpoints } = setup(4);
    account.faults.drops = [{ afterUploads: 1, stored: true }];
    const { summary } = await migrate(endpoints, migrateOptions({ dedupe: false, batchMessages: 4 }));
    expect(summary).toMatchObject({ appended: 4, failed: 0 });
    expectEachOnce(account, messages);
  });

  it('a reconnect that is refused at first is tried again', async () => {
    const { messages, mailbox, account, endpoints } = setup(8);
    mailbox.faults.drops = [{ afterMessages: 2 }];
    account.faults.drops = [{ afterUploads: 4 }];
    let armed = false;
    const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 2, retries: 8 }), {
      onProgress: () => {
        if (armed) return;
        armed = true;
        mailbox.faults.failConnects = 2;
        account.faults.failConnects = 2;
      },
    });
    expect(summary).toMatchObject({ appended: 8, failed: 0 });
    expect(summary.reconnects).toBeGreaterThanOrEqual(3);
    expectEachOnce(account, messages);
  });

  // The first sessions (logins, the first listing, opening and creating the folder) are not retried:
  // a server that cannot get that far is reported at once, like a wrong password.
  it.each([
    ['POP3', 'during the first listing'],
    ['IMAP', 'while creating the folder'],
  ] as const)('a %s drop %s ends the run, before anything is uploaded', async (side, _when) => {
    const { mailbox, account, endpoints } = setup(3);
    if (side === 'POP3') mailbox.faults.drops = [{ afterCommands: 1 }];
    else account.faults.drops = [{ afterCommands: 2 }];
    await expect(migrate(endpoints, migrateOptions())).rejects.toMatchObject({ code: `${side}_CONNECTION_LOST`, side });
    expect(account.appends).toBe(0);
    expect(mailbox.sessionsOpened + account.sessionsOpened).toBe(2);
  });

  it('after a reconnect, a message another client deleted meanwhile is not waited for', async () => {
    const { messages, mailbox, account, endpoints } = setup(6);
    mailbox.faults.drops = [{ afterMessages: 2 }];
    let once = false;
    const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 1 }), {
      onProgress: () => {
        if (once) return;
        once = true;
        mailbox.messages = mailbox.messages.filter((m) => m.uidl !== 'u5');
      },
    });
    expect(summary).toMatchObject({ found: 6, appended: 5, failed: 0, stopReason: undefined, reconnects: 1 });
    expectEachOnce(
      account,
      messages.filter((_, i) => i !== 4),
    );
  });

  it('a first connection that fails is reported at once, not retried', async () => {
    const { mailbox, account, endpoints } = setup(2);
    mailbox.faults.failConnects = 1;
    await expect(migrate(endpoints, migrateOptions())).rejects.toMatchObject({ code: 'POP3_CONNECT', side: 'POP3' });
    expect(account.appends).toBe(0);
  });

  it('gives up after --retries reconnects that made no progress, having deleted nothing', async () => {
    const { mailbox, account, endpoints } = setup(6);
    // The first session moves one message; every later one drops before it lists anything.
    mailbox.faults.drops = [{ afterMessages: 1 }, ...Array.from({ length: 10 }, () => ({ afterCommands: 0 }))];
    const err = await migrate(endpoints, migrateOptions({ retries: 2, batchMessages: 1, delete: true })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'POP3_CONNECTION_LOST', side: 'POP3' });
    expect(mailbox.sessionsOpened).toBe(3);
    expect(mailbox.removed).toEqual([]);
    expect(account.folders.get('Archive')!.messages.length).toBe(1);
  });

  it.each(['before-update', 'after-update'] as const)(
    'a commit that loses its reply (%s) is retried without deleting anything unproven',
    async (failure) => {
      const { messages, mailbox, account, endpoints } = setup(6);
      mailbox.faults.commitFailures = [failure];
      const { summary } = await migrate(endpoints, migrateOptions({ delete: true, deleteEvery: 4 }));
      expect(summary.appended).toBe(6);
      expect(mailbox.messages).toEqual([]);
      expect(mailbox.removed).toHaveLength(6);
      expectEachOnce(account, messages);
      expectDeletedOnlyWhatIsCopied(mailbox, account);
    },
  );
});

describe('the engine when the destination pushes back', () => {
  it('waits out throttling and then stores everything', async () => {
    const { messages, account, endpoints } = setup(5);
    account.faults.throttle = 3;
    account.faults.throttleMs = 5;
    const { summary, warnings } = await migrate(endpoints, migrateOptions({ batchMessages: 2 }));
    expect(summary).toMatchObject({ appended: 5, failed: 0, stopReason: undefined });
    expect(warnings.filter((w) => w.includes('throttling'))).toHaveLength(1);
    expectEachOnce(account, messages);
  });

  it('counts a message throttled too many times as failed, and a later run sends it', async () => {
    const { messages, account, endpoints } = setup(1);
    account.faults.throttle = 100;
    const first = await migrate(endpoints, migrateOptions());
    expect(first.summary).toMatchObject({ appended: 0, failed: 1 });
    expect(first.summary.failures[0]).toMatchObject({ side: 'IMAP' });
    expect(first.summary.failures[0]!.reason).toContain('throttled');
    account.faults.throttle = 0;
    const second = await migrate(endpoints, migrateOptions());
    expect(second.summary).toMatchObject({ appended: 1, failed: 0 });
    expectEachOnce(account, messages);
  });

  it('stops at over quota, and deletes nothing', async () => {
    const { mailbox, account, endpoints } = setup(6);
    account.faults.quotaBytes = mail(1).length * 2 + 10;
    const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 1, delete: true }));
    expect(summary.stopReason).toBe('over-quota');
    expect(summary.stopped).toContain('over quota');
    expect(summary.appended).toBe(2);
    expect(summary.failed).toBeGreaterThanOrEqual(1);
    expect(summary.deleted).toBe(0);
    expect(mailbox.removed).toEqual([]);
    expect(account.folders.get('Archive')!.messages).toHaveLength(2);
  });

  it('a daily quota stops the run for later: nothing fails, nothing is deleted, exit 6, and the next run finishes', async () => {
    const { mailbox, account, endpoints, messages } = setup(6);
    account.faults.later = 1;
    const journal = new JournalFile();
    const first = await journal.with((j) => migrate(endpoints, migrateOptions({ batchMessages: 1, delete: true, journal: j })));
    expect(first.summary).toMatchObject({ stopReason: 'run-later', failed: 0, deleted: 0 });
    expect(first.summary.stopped).toMatch(/daily quota reached/);
    expect(summaryExitCode(first.summary)).toBe(6);
    expect(mailbox.removed).toEqual([]);
    const second = await journal.with((j) => migrate(endpoints, migrateOptions({ batchMessages: 1, journal: j })));
    journal.remove();
    expect(summaryExitCode(second.summary)).toBe(0);
    expectEachOnce(account, messages);
  });

  it('records a refused message as failed on the IMAP side and moves the rest', async () => {
    const { messages, account, endpoints } = setup(4);
    account.faults.refuse = (c) => c.equals(messages[1]!);
    const { summary } = await migrate(endpoints, migrateOptions());
    expect(summary).toMatchObject({ appended: 3, failed: 1, stopReason: undefined });
    expect(summary.failures).toEqual([{ uidl: 'u2', side: 'IMAP', reason: 'NO Message refused' }]);
  });

  it('refuses a message over APPENDLIMIT without sending it', async () => {
    const big = mail('big', { body: 'x'.repeat(5000) });
    const mailbox = new MemoryMailbox([mail(1), big]);
    const account = new MemoryImapServer({ appendLimit: 1000 });
    const { summary } = await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    expect(summary).toMatchObject({ appended: 1, failed: 1 });
    expect(summary.failures[0]!.reason).toContain('APPENDLIMIT');
    expect(account.appends).toBe(1);
  });
});

describe('the engine stopping early', () => {
  it('records a message the POP3 server will not send as failed on the POP3 side', async () => {
    const { mailbox, endpoints } = setup(4);
    mailbox.faults.unreadable.add('u3');
    const { summary } = await migrate(endpoints, migrateOptions());
    expect(summary).toMatchObject({ appended: 3, failed: 1, stopReason: undefined });
    expect(summary.failures[0]).toMatchObject({ uidl: 'u3', side: 'POP3' });
  });

  it('stops at --max-errors: the rest is not tried and nothing is deleted', async () => {
    const { mailbox, account, endpoints } = setup(10);
    mailbox.faults.unreadable = new Set(['u3', 'u5']);
    const { summary } = await migrate(endpoints, migrateOptions({ maxErrors: 2, delete: true }));
    expect(summary.stopReason).toBe('max-errors');
    expect(summary.stopped).toContain('--max-errors');
    expect(summary.failed).toBe(2);
    // u6 to u10 were never asked for.
    expect(mailbox.retrieved).toBe(3);
    expect(summary.appended + summary.duplicates).toBeLessThanOrEqual(3);
    expect(account.appends).toBeLessThanOrEqual(3);
    expect(mailbox.removed).toEqual([]);
  });

  it('a stop request ends the run as interrupted, deletes nothing, and the next run finishes', async () => {
    const { messages, mailbox, account, endpoints } = setup(10);
    let settled = 0;
    const first = await migrate(endpoints, migrateOptions({ batchMessages: 1, delete: true }), {
      onProgress: () => settled++,
      stopRequested: () => settled >= 3,
    });
    expect(first.summary.stopReason).toBe('interrupted');
    expect(first.summary.appended).toBeGreaterThanOrEqual(3);
    expect(first.summary.appended).toBeLessThan(10);
    expect(mailbox.removed).toEqual([]);
    const second = await migrate(endpoints, migrateOptions({ delete: true }));
    expect(second.summary).toMatchObject({ stopReason: undefined, failed: 0, deleted: 10 });
    expect(second.summary.appended + second.summary.duplicates).toBe(10);
    expectEachOnce(account, messages);
  });

  it('a stop request during a reconnect backoff ends the run instead of reconnecting', async () => {
    const { mailbox, endpoints } = setup(4);
    mailbox.faults.drops = [{ afterMessages: 1 }, { afterMessages: 1 }];
    let stop = false;
    const { summary } = await migrate(endpoints, migrateOptions({ retries: 5 }), {
      // The reconnect warning comes just before the backoff: the user presses Ctrl-C then.
      warn: () => {
        stop = true;
      },
      stopRequested: () => stop,
    });
    expect(summary.stopReason).toBe('interrupted');
    expect(mailbox.sessionsOpened).toBe(1);
  });
});

describe('the engine when the uploads cannot be confirmed', () => {
  // No UIDPLUS: the confirmation must read the folder, and here that read drops every time.
  const setupUnconfirmed = () => {
    const messages = [...mails(6), mail('no-id-1', { messageId: false }), mail('no-id-2', { messageId: false })];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ uidPlus: false });
    account.faults.scanDropsFrom = messages.length;
    return { messages, mailbox, account, endpoints: memoryEndpoints(mailbox, account), journal: new JournalFile() };
  };

  it('a run whose folder read fails after its uploads does not exit 0, and the next run uploads none of them again', async () => {
    const { messages, account, endpoints, journal } = setupUnconfirmed();
    // --no-dedupe: only the unknown outcome makes the next run look before uploading.
    const options = migrateOptions({ dedupe: false });
    const first = await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch((err: unknown) => err);
    expect(first).toMatchObject({ side: 'IMAP', code: 'IMAP_CONNECTION_LOST' });
    expect(account.folders.get('Archive')?.messages).toHaveLength(messages.length);
    expect(journal.load().unconfirmed.size).toBe(messages.length);

    // The folder still cannot be read: uploading again would store every message twice.
    const second = await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch((err: unknown) => err);
    expect(second).toMatchObject({ side: 'IMAP', code: 'IMAP_CONNECTION_LOST' });
    expectEachOnce(account, messages);

    // Once it can be read, each upload is found there, and the run proves it.
    account.faults.scanDropsFrom = undefined;
    const third = await journal.with((j) => migrate(endpoints, { ...options, journal: j }));
    expect(third.summary).toMatchObject({ found: messages.length, appended: messages.length, failed: 0, stopReason: undefined });
    expect(summaryExitCode(third.summary)).toBe(0);
    expectEachOnce(account, messages);
    journal.remove();
  });
});
