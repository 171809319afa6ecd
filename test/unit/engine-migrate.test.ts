import { appendFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PopliftError } from '../../src/errors.js';
import { JournalFile, mail, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';

/** How many messages of the account hold exactly these bytes. */
function copies(account: MemoryImapServer, content: Buffer): number {
  return account.allMessages().filter((m) => m.content.equals(content)).length;
}

function setup(messages: Buffer[], options: { hasUidl?: boolean; uidPlus?: boolean } = {}) {
  const mailbox = new MemoryMailbox(messages, { hasUidl: options.hasUidl });
  const account = new MemoryImapServer({ uidPlus: options.uidPlus });
  return { mailbox, account, endpoints: memoryEndpoints(mailbox, account) };
}

const journals: JournalFile[] = [];
function journalFile(): JournalFile {
  const j = new JournalFile();
  journals.push(j);
  return j;
}
afterEach(() => {
  for (const j of journals.splice(0)) j.remove();
});

describe('migrateMailbox on in-memory stores', () => {
  it('copies every message byte for byte, with its flags and date', async () => {
    const odd = Buffer.concat([mail(9).subarray(0, -2), Buffer.from([0, 0x0d, 0xff, 0x0a, 0x0d, 0x0d, 0x0a, 0x80])]);
    const seen = Buffer.from('Message-ID: <seen@x>\r\nStatus: RO\r\nReceived: from a by b; Tue, 3 Mar 2026 08:00:00 +0000\r\n\r\nhi\r\n');
    const { account, endpoints } = setup([...mails(3), odd, seen]);
    const { summary } = await migrate(endpoints, migrateOptions());
    expect(summary).toMatchObject({ found: 5, appended: 5, duplicates: 0, failed: 0, stopReason: undefined });
    const folder = account.folders.get('Archive')!;
    expect(folder.messages.map((m) => m.content)).toEqual([...mails(3), odd, seen]);
    const last = folder.messages.at(-1)!;
    expect(last.flags).toContain('\\Seen');
    expect(last.date.toISOString()).toBe('2026-03-03T08:00:00.000Z');
  });

  it('skips what the destination already holds, by Message-ID or fallback key', async () => {
    const noId = mail('plain', { messageId: false });
    const { account, endpoints } = setup([...mails(4), noId]);
    account.addFolder('Archive', [mail(2), mail(4), noId]);
    const { summary } = await migrate(endpoints, migrateOptions());
    expect(summary).toMatchObject({ found: 5, appended: 2, duplicates: 3, failed: 0 });
    expect(summary.duplicateList.every((d) => d.keptIn === 'destination' && !d.sizeDiffers)).toBe(true);
    for (const m of [...mails(4), noId]) expect(copies(account, m)).toBe(1);
  });

  it('uploads one copy of messages the source holds twice', async () => {
    const { account, endpoints } = setup([mail(1), mail(2), mail(1), mail('x', { messageId: false }), mail('x', { messageId: false })]);
    const { summary } = await migrate(endpoints, migrateOptions());
    expect(summary).toMatchObject({ appended: 3, duplicates: 2 });
    expect(account.folders.get('Archive')!.messages).toHaveLength(3);
  });

  it('a second run with the journal reads nothing it has done already', async () => {
    const { mailbox, account, endpoints } = setup(mails(6));
    const journal = journalFile();
    const first = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(first.summary.appended).toBe(6);
    const read = mailbox.retrieved;
    mailbox.deliver(mail(7));
    const second = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(second.summary).toMatchObject({ found: 7, knownFromJournal: 6, appended: 1, duplicates: 0 });
    expect(mailbox.retrieved - read).toBe(1);
    expect(account.folders.get('Archive')!.messages).toHaveLength(7);
  });

  it('after an interrupted run, and a torn last journal line, the next run reads only what the journal does not vouch for', async () => {
    const { mailbox, account, endpoints } = setup(mails(8));
    const journal = journalFile();
    let settled = 0;
    const first = await journal.with((j) =>
      migrate(endpoints, migrateOptions({ journal: j, batchMessages: 1 }), {
        onProgress: () => settled++,
        stopRequested: () => settled >= 3,
      }),
    );
    expect(first.summary.stopReason).toBe('interrupted');
    const done = first.summary.appended;
    expect(journal.load().done.size).toBe(done);
    // A crash in the middle of writing the next line.
    appendFileSync(journal.path, '{"t":"appended","uidl":"u8","ke');
    const read = mailbox.retrieved;
    const second = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(second.summary).toMatchObject({ knownFromJournal: done, appended: 8 - done, duplicates: 0, stopReason: undefined });
    expect(mailbox.retrieved - read).toBe(8 - done);
    expect(account.folders.get('Archive')!.messages).toHaveLength(8);
    expect(journal.load().done.size).toBe(8);
  });

  it('a stop asked for after every message was settled cuts nothing short: no "stopped early", unless deleting was still to come', async () => {
    for (const remove of [false, true]) {
      const { endpoints } = setup(mails(3));
      let settled = 0;
      const { summary } = await migrate(endpoints, migrateOptions({ delete: remove }), {
        onProgress: () => settled++,
        stopRequested: () => settled >= 3,
      });
      expect(summary.appended).toBe(3);
      if (remove) expect(summary.stopped).toMatch(/before deleting from the source; every message was copied/);
      else expect(summary.stopped).toBeUndefined();
    }
  });

  it('does not trust the journal once the folder was recreated (UIDVALIDITY changed)', async () => {
    const { account, endpoints } = setup(mails(3));
    const journal = journalFile();
    await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    account.recreate('Archive');
    const { summary, warnings } = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(warnings.some((w) => w.includes('UIDVALIDITY changed'))).toBe(true);
    expect(summary).toMatchObject({ knownFromJournal: 0, appended: 3 });
  });

  it('without UIDL, leans on dedup alone and still stores nothing twice', async () => {
    const { account, endpoints } = setup(mails(4), { hasUidl: false });
    const journal = journalFile();
    const first = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(first.warnings.some((w) => w.includes('does not support UIDL'))).toBe(true);
    const second = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
    expect(second.summary).toMatchObject({ knownFromJournal: 0, appended: 0, duplicates: 4 });
    expect(account.folders.get('Archive')!.messages).toHaveLength(4);
  });

  describe('the folder', () => {
    it('is not created when there is nothing to upload', async () => {
      const { account, endpoints } = setup([]);
      const { summary } = await migrate(endpoints, migrateOptions());
      expect(summary.found).toBe(0);
      expect(account.created).toEqual([]);
      expect(account.folders.size).toBe(0);
    });

    it('is not created when everything is known from the journal', async () => {
      const { account, endpoints } = setup(mails(2));
      const journal = journalFile();
      await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, folder: ['A'] })));
      // The journal is for folder A; pretend the user points the same journal at a folder that is gone.
      account.folders.delete('A');
      const state = journal.load();
      state.folder = undefined;
      const created = account.created.length;
      await migrate(endpoints, migrateOptions({ journal: { state, writer: undefined }, folder: ['A'] }));
      expect(account.created.length).toBe(created);
    });

    it('is not created when the POP3 login fails', async () => {
      const { mailbox, account, endpoints } = setup(mails(2));
      mailbox.faults.refuseLogin = true;
      await expect(migrate(endpoints, migrateOptions())).rejects.toMatchObject({ code: 'POP3_AUTH', side: 'POP3' });
      expect(account.created).toEqual([]);
    });

    it('is not created, and nothing is read, when the IMAP login fails', async () => {
      const { mailbox, account, endpoints } = setup(mails(2));
      account.faults.refuseLogin = true;
      const err = await migrate(endpoints, migrateOptions()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PopliftError);
      expect(err).toMatchObject({ code: 'IMAP_AUTH' });
      expect(account.created).toEqual([]);
      expect(mailbox.retrieved).toBe(0);
    });

    it('a refused CREATE fails the run before anything is read', async () => {
      const { mailbox, account, endpoints } = setup(mails(2));
      account.faults.refuseCreate = true;
      await expect(migrate(endpoints, migrateOptions())).rejects.toMatchObject({ code: 'IMAP_FOLDER' });
      expect(mailbox.retrieved).toBe(0);
    });
  });

  it('a dry run changes nothing on either side, and says what it would do', async () => {
    const { mailbox, account, endpoints } = setup(mails(3));
    account.addFolder('Other', [mail(1)]);
    const before = mailbox.messages.map((m) => m.content);
    const { summary, warnings } = await migrate(endpoints, migrateOptions({ dryRun: true, delete: true }));
    expect(summary.wouldAppend.map((p) => p.uidl)).toEqual(['u1', 'u2', 'u3']);
    expect(summary.appended).toBe(0);
    expect(summary.deleted).toBe(0);
    expect(warnings.some((w) => w.includes('would be created'))).toBe(true);
    expect(account.created).toEqual([]);
    expect([...account.folders.keys()]).toEqual(['Other']);
    expect(account.appends).toBe(0);
    expect(mailbox.messages.map((m) => m.content)).toEqual(before);
    expect(mailbox.removed).toEqual([]);
  });

  it('a dry run with --delete lists only messages whose copy is proven', async () => {
    const { mailbox, account, endpoints } = setup(mails(3));
    account.addFolder('Archive', [mail(2)]);
    const { summary } = await migrate(endpoints, migrateOptions({ dryRun: true, delete: true }));
    expect(summary.wouldDelete).toEqual(['u2']);
    expect(mailbox.removed).toEqual([]);
  });

  describe('--delete', () => {
    it('removes from the source what is confirmed on the destination, committing every --delete-every', async () => {
      const { mailbox, account, endpoints } = setup(mails(5));
      const { summary } = await migrate(endpoints, migrateOptions({ delete: true, deleteEvery: 2 }));
      expect(summary).toMatchObject({ appended: 5, deleted: 5 });
      expect(mailbox.messages).toEqual([]);
      for (const m of mailbox.removed) expect(copies(account, m.content)).toBe(1);
    });

    it('without UIDPLUS, confirms each copy by its key and size in the folder', async () => {
      const { mailbox, endpoints } = setup(mails(3), { uidPlus: false });
      const { summary } = await migrate(endpoints, migrateOptions({ delete: true }));
      expect(summary).toMatchObject({ appended: 3, deleted: 3 });
      expect(mailbox.messages).toEqual([]);
    });

    it('keeps a message that was refused, and deletes its duplicate only when the kept copy is proven', async () => {
      const { mailbox, account, endpoints } = setup([mail(1), mail(2), mail(3), mail(2)]);
      account.faults.refuse = (c) => c.equals(mail(2));
      const { summary } = await migrate(endpoints, migrateOptions({ delete: true }));
      expect(summary.failed).toBeGreaterThanOrEqual(1);
      expect(summary.stopReason).toBeUndefined();
      expect(mailbox.messages.map((m) => m.uidl)).toEqual(['u2', 'u4']);
      expect(mailbox.removed.map((m) => m.uidl)).toEqual(['u1', 'u3']);
    });

    it('deletes messages a later run finds recorded in the journal, once their UID is still in the folder', async () => {
      const { mailbox, account, endpoints } = setup(mails(3));
      const journal = journalFile();
      await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      // Someone removed one copy from the folder in between: that message must stay on the source.
      const folder = account.folders.get('Archive')!;
      folder.messages = folder.messages.filter((m) => !m.content.equals(mail(2)));
      const { summary } = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, delete: true })));
      expect(summary).toMatchObject({ knownFromJournal: 3, appended: 0, deleted: 2 });
      expect(mailbox.messages.map((m) => m.uidl)).toEqual(['u2']);
    });

    // A Message-ID is a claim: the message in the folder under it is another one, so this one is
    // uploaded, and deleted once its own copy is proven.
    it('a message whose Message-ID the folder holds on another message is uploaded, not skipped', async () => {
      const other = Buffer.concat([mail(1), Buffer.from('a longer body, same Message-ID\r\n')]);
      const { mailbox, account, endpoints } = setup([mail(1)]);
      account.addFolder('Archive', [other]);
      const { summary } = await migrate(endpoints, migrateOptions({ delete: true }));
      expect(summary.duplicates).toBe(0);
      expect(summary.appended).toBe(1);
      expect(summary.deleted).toBe(1);
      expect(copies(account, mail(1))).toBe(1);
      expect(copies(account, other)).toBe(1);
      expect(mailbox.messages).toHaveLength(0);
    });

    // Without UIDL the ids are message numbers, which shift once messages are removed: a number proves nothing
    // about which message it names in a later session.
    it('without UIDL and with --delete-every, deletes only messages whose copy is proven', async () => {
      const { mailbox, account, endpoints } = setup(mails(6), { hasUidl: false });
      account.faults.refuse = (c) => c.equals(mail(6));
      await migrate(endpoints, migrateOptions({ delete: true, deleteEvery: 2 }));
      for (const m of mailbox.removed) expect(copies(account, m.content)).toBe(1);
      expect(mailbox.messages.map((m) => m.content)).toContainEqual(mail(6));
    });

    // A QUIT whose reply is lost after the server removed what was marked makes the delete phase run again in a
    // new session, where message 1 is another message: without UIDL nothing may be deleted on a number's word.
    it('without UIDL, a lost QUIT reply does not make the retry delete an unproven message', async () => {
      const { mailbox, account, endpoints } = setup([mail(1), mail(2)], { hasUidl: false });
      mailbox.faults.unreadable.add('u2');
      mailbox.faults.commitFailures = ['after-update'];
      await migrate(endpoints, migrateOptions({ delete: true }));
      expect(mailbox.removed.map((m) => m.uidl)).toEqual([]);
      expect(copies(account, mail(2))).toBe(0);
      expect(mailbox.messages.map((m) => m.uidl)).toEqual(['u1', 'u2']);
    });
  });
});
