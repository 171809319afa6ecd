/**
 * Another writer (a run on another machine, which no lock of this machine
 * can see) appends the same messages to the folder while this run uploads:
 * before each batch after the first, a folder whose UIDNEXT moved further
 * than this run's own uploads is read again, and what appeared there counts
 * as already there (by the same rule as the dedup).
 */
import { describe, expect, it } from 'vitest';
import { FolderWatch } from '../../src/engine/folder-watch.js';
import { mail, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';

function copiesOf(account: MemoryImapServer, content: Buffer): number {
  return account.allMessages().filter((m) => m.content.equals(content)).length;
}

describe('another writer appends between batches', () => {
  for (const uidPlus of [true, false]) {
    it(`what it appended after the index was read is not uploaded again (UIDPLUS ${uidPlus ? 'on' : 'off'})`, async () => {
      const messages = [...mails(8), mail('no-id-1', { messageId: false }), mail('no-id-2', { messageId: false })];
      const account = new MemoryImapServer({ uidPlus });
      const endpoints = memoryEndpoints(new MemoryMailbox(messages), account);
      let done = 0;
      const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 2, maxInflightBytes: 1 }), {
        onProgress: () => {
          // Once this run's first batch is in, the other machine's run stores everything from the fifth message on.
          if (++done !== 2) return;
          const folder = account.folders.get('Archive')!;
          for (const m of messages.slice(4)) account.store(folder, { content: m, flags: [], date: undefined });
        },
      });
      for (const m of messages) expect(copiesOf(account, m)).toBe(1);
      expect(summary).toMatchObject({ found: 10, appended: 4, duplicates: 6, failed: 0, stopReason: undefined });
      expect(summary.duplicateList.slice(-6).every((d) => d.keptIn === 'destination')).toBe(true);
      // This run sent only its own four. The folder was read for the index, again once the other writer
      // showed, and by the confirmation (whose STATUS count the other writer's messages upset).
      expect(account.appends).toBe(4);
      expect(account.scans).toBe(3);
    });
  }

  it('a folder nobody else writes to is not read again: one STATUS per batch after the first, and no index FETCH', async () => {
    const account = new MemoryImapServer();
    const endpoints = memoryEndpoints(new MemoryMailbox(mails(8)), account);
    const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 2, maxInflightBytes: 1 }));
    expect(summary).toMatchObject({ appended: 8, duplicates: 0 });
    expect(account.folders.get('Archive')!.messages).toHaveLength(8);
    expect(account.scans).toBe(1);
    // Batches 2 to 4 each, and the confirmation at the end.
    expect(account.statuses).toBe(4);
  });

  it('with --dedupe none the folder is not watched (the user asked for no lookups)', async () => {
    const messages = mails(6);
    const account = new MemoryImapServer();
    const endpoints = memoryEndpoints(new MemoryMailbox(messages), account);
    let done = 0;
    const { summary } = await migrate(endpoints, migrateOptions({ batchMessages: 2, maxInflightBytes: 1, dedupe: false }), {
      onProgress: () => {
        if (++done !== 2) return;
        account.store(account.folders.get('Archive')!, { content: messages[5]!, flags: [], date: undefined });
      },
    });
    expect(summary.appended).toBe(6);
    expect(copiesOf(account, messages[5]!)).toBe(2);
  });
});

describe('FolderWatch', () => {
  const status = (uidNext: number) => ({ uidValidity: 1n, uidNext, messages: 0 });

  it('counts only what this run stored or still has in flight: a throttled or refused upload takes no UID', () => {
    const watch = new FolderWatch(10);
    expect(watch.sentAny).toBe(false);
    watch.sending(4);
    expect(watch.othersAppended(status(14))).toBe(false);
    // All four throttled: none stored, so one more UID is someone else's.
    watch.answered(4, 0);
    expect(watch.othersAppended(status(11))).toBe(true);
    watch.sending(4);
    watch.answered(4, 4);
    expect(watch.othersAppended(status(14))).toBe(false);
    expect(watch.othersAppended(status(15))).toBe(true);
  });

  it('starts counting again where the folder was read again, keeping what is still in flight', () => {
    const watch = new FolderWatch(1);
    watch.sending(2);
    watch.answered(2, 2);
    watch.sending(3);
    watch.restart(10);
    expect(watch.othersAppended(status(13))).toBe(false);
    expect(watch.othersAppended(status(14))).toBe(true);
  });
});
