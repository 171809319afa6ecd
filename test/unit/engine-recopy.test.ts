/**
 * A copy deleted from the folder after a run copied it: the journal still
 * vouches for the message, so a run would neither read nor upload it again.
 * migrate says how many such copies are gone, and --recopy-missing (off by
 * default: a user's own deletions in a folder bridged from cron for months
 * must stay deleted) copies them again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { JournalFile, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';

const journals: JournalFile[] = [];
afterEach(() => {
  for (const j of journals.splice(0)) j.remove();
});

function setup(count: number, uidPlus = true) {
  const messages = mails(count);
  const mailbox = new MemoryMailbox(messages);
  const account = new MemoryImapServer({ uidPlus });
  const journal = new JournalFile();
  journals.push(journal);
  return { messages, mailbox, account, journal, endpoints: memoryEndpoints(mailbox, account) };
}

const copiesOf = (account: MemoryImapServer, content: Buffer) => account.allMessages().filter((m) => m.content.equals(content)).length;

describe('copies deleted from the folder after a run', () => {
  for (const uidPlus of [true, false]) {
    it(`are counted and left alone by default, and copied again with recopyMissing (UIDPLUS ${uidPlus ? 'on' : 'off'})`, async () => {
      const { messages, account, journal, endpoints } = setup(4, uidPlus);
      expect((await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })))).summary.appended).toBe(4);
      // The user deletes one copy (and the folder gets a message of its own meanwhile).
      const folder = account.folders.get('Archive')!;
      folder.messages.splice(1, 1);
      account.store(folder, { content: Buffer.from('Message-ID: <other@x>\r\n\r\nother\r\n'), flags: [], date: undefined });

      const told = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(told.summary).toMatchObject({ appended: 0, missingFromFolder: 1, stopReason: undefined });
      expect(told.warnings).toContain(
        "1 message copied earlier by poplift is no longer in IMAP folder 'Archive' (deleted there?); it was not copied again: run with --recopy-missing to copy it again.",
      );
      expect(copiesOf(account, messages[1]!)).toBe(0);

      const again = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, recopyMissing: true })));
      expect(again.summary).toMatchObject({ appended: 1, missingFromFolder: 1, failed: 0, stopReason: undefined });
      for (const m of messages) expect(copiesOf(account, m)).toBe(1);

      const after = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, recopyMissing: true })));
      expect(after.summary).toMatchObject({ appended: 0, missingFromFolder: 0 });
    });
  }

  it('a re-run with nothing new in a folder nobody expunged from reads no index', async () => {
    const { account, journal, endpoints } = setup(3);
    await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    // Someone appends; nothing is expunged.
    account.store(account.folders.get('Archive')!, {
      content: Buffer.from('Message-ID: <other@x>\r\n\r\nother\r\n'),
      flags: [],
      date: undefined,
    });
    const scans = account.scans;
    const { summary } = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(summary).toMatchObject({ appended: 0, missingFromFolder: 0 });
    expect(account.scans).toBe(scans);
  });
});

describe('a journal written before the folder record kept a message count', () => {
  it('gets one on the next run, so that a later deletion is noticed', async () => {
    const { account, journal, endpoints } = setup(3);
    await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    // What an older version wrote: the folder record without `messages`.
    const lines = readFileSync(journal.path, 'utf8').split('\n');
    writeFileSync(journal.path, lines.map((l) => (l.includes('"t":"folder"') ? l.replace(/,"messages":\d+/, '') : l)).join('\n'));
    expect(journal.load().folder?.messages).toBeUndefined();
    await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(journal.load().folder?.messages).toBe(3);
    account.folders.get('Archive')!.messages.splice(0, 1);
    const { summary } = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(summary).toMatchObject({ appended: 0, missingFromFolder: 1 });
  });
});
