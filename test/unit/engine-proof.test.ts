/**
 * What the engine counts as there must be shown to be the message: a
 * Message-ID shared by distinct messages, an APPENDUID that names another
 * message, a copy the server changed beyond the copy rule, and a delete
 * phase that finds no copy is the message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { summaryExitCode } from '../../src/engine/summary.js';
import { verifyExitCode, verifyMailbox } from '../../src/engine/verify.js';
import { JournalFile, mail, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';
import { expectEachOnce, stored } from '../stores/invariants.js';

/** What a sensor sends: every reading under one Message-ID, all of one size. */
function readings(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) =>
    Buffer.from(
      `Message-ID: <reading@sensor>\r\nFrom: sensor@example.org\r\nTo: ops@example.org\r\nSubject: reading\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\ntemperature ${String(i).padStart(3, '0')}\r\n`,
      'latin1',
    ),
  );
}

/** A message without Message-ID whose header fields (so whose fallback key) every such message shares. */
const sameHeaders = (body: string) =>
  Buffer.from(`From: a@example.org\r\nSubject: same\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n${body}\r\n`, 'latin1');

const verify = (mailbox: MemoryMailbox, account: MemoryImapServer, deep = false) =>
  verifyMailbox(memoryEndpoints(mailbox, account), { folder: ['Archive'], deep }, { warn: () => undefined });

describe('distinct messages sharing one Message-ID', () => {
  it('uploads every one of 200 sensor readings, and a second run finds each its own copy', async () => {
    const messages = readings(200);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    const endpoints = memoryEndpoints(mailbox, account);
    const first = await migrate(endpoints, migrateOptions({ batchMessages: 16 }));
    expect(first.summary.appended).toBe(200);
    expect(first.summary.duplicates).toBe(0);
    expect(summaryExitCode(first.summary)).toBe(0);
    expectEachOnce(account, messages);
    // Without a journal every reading is found again by its bytes, and each may be deleted.
    const second = await migrate(endpoints, migrateOptions({ delete: true, deleteEvery: 50 }));
    expect(second.summary.appended).toBe(0);
    expect(second.summary.duplicates).toBe(200);
    expect(second.summary.deleted).toBe(200);
    expect(summaryExitCode(second.summary)).toBe(0);
    expectEachOnce(account, messages);
  });

  it('does not skip a reading because another one with its Message-ID is in the folder', async () => {
    const messages = readings(20);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    account.addFolder('Archive', [messages[0]!]);
    const run = await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    expect(run.summary.appended).toBe(19);
    expect(run.summary.duplicates).toBe(1);
    expect(run.summary.duplicateList[0]).toMatchObject({ uidl: 'u1', keptIn: 'destination', keptUid: 1 });
    expectEachOnce(account, messages);
  });

  it('still collapses the same mail delivered twice, in one run and against the folder', async () => {
    const [a, b] = readings(2) as [Buffer, Buffer];
    const mailbox = new MemoryMailbox([a, a, b, b]);
    const account = new MemoryImapServer();
    const endpoints = memoryEndpoints(mailbox, account);
    const run = await migrate(endpoints, migrateOptions({ batchMessages: 1 }));
    expect(run.summary.appended).toBe(2);
    expect(run.summary.duplicates).toBe(2);
    expect(run.summary.duplicateList.map((d) => [d.uidl, d.keptIn, d.keptAs])).toEqual([
      ['u2', 'this-run', 'u1'],
      ['u4', 'this-run', 'u3'],
    ]);
    expectEachOnce(account, [a, b]);
    const again = await migrate(endpoints, migrateOptions({ delete: true }));
    expect(again.summary.duplicates).toBe(4);
    expect(again.summary.deleted).toBe(4);
    expectEachOnce(account, [a, b]);
  });

  it('keeps both copies of a mailing-list message delivered twice with other trace headers', async () => {
    const body = 'Message-ID: <post@list.example>\r\nFrom: a@example.org\r\nSubject: post\r\n\r\nthe same body\r\n';
    const direct = Buffer.from(`Received: from mx1 by mx2; Mon, 2 Mar 2026 10:00:00 +0000\r\n${body}`, 'latin1');
    const viaList = Buffer.from(
      `Received: from list by mx2; Mon, 2 Mar 2026 10:00:05 +0000\r\nList-Id: <list.example>\r\n${body}`,
      'latin1',
    );
    const mailbox = new MemoryMailbox([direct, viaList]);
    const account = new MemoryImapServer();
    const run = await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    expect(run.summary.appended).toBe(2);
    expectEachOnce(account, [direct, viaList]);
  });

  it('plain verify does not report readings there that only share a Message-ID and a size with the copy', async () => {
    const messages = readings(200);
    const account = new MemoryImapServer();
    account.addFolder('Archive', [messages[0]!]);
    const mailbox = new MemoryMailbox(messages);
    for (const readsHeaders of [true, false]) {
      const report = await verify(new MemoryMailbox(messages, { readsHeaders }), account);
      expect(report.present).toBe(1);
      expect(report.problems).toHaveLength(199);
      expect(verifyExitCode(report)).toBe(1);
    }
    // Once every reading is in the folder, plain verify proves each.
    await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    const report = await verify(mailbox, account);
    expect(report.present).toBe(200);
    expect(report.problems).toEqual([]);
  });
});

describe('an APPENDUID that names another message', () => {
  it('does not count uploads there when the UIDs the server named belong to messages already in the folder', async () => {
    const existing = Array.from({ length: 20 }, (_, i) => mail(`old${i}`));
    const messages = Array.from({ length: 20 }, (_, i) => mail(`new${i}`));
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    account.addFolder('Archive', existing);
    account.faults.lyingUids = 20;
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      const run = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(stored(account)).toHaveLength(20);
      expect(run.summary.appended).toBe(0);
      expect(run.summary.failed).toBe(20);
      expect(run.summary.deleted).toBe(0);
      expect(summaryExitCode(run.summary)).toBe(1);
      // The next run sends them again.
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(next.summary.appended).toBe(20);
      expect(summaryExitCode(next.summary)).toBe(0);
      expectEachOnce(account, [...existing, ...messages]);
    } finally {
      journal.remove();
    }
  });
});

describe('a delete phase that finds no copy is the message', () => {
  // A journal written when a Message-ID alone made a duplicate: four readings recorded as skipped for
  // the copy of the first.
  it('keeps the message, does not exit 0, and the next run uploads it', async () => {
    const messages = readings(5);
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    const folder = account.addFolder('Archive', [messages[0]!]);
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      await journal.with(({ writer }) => {
        const uidValidity = folder.uidValidity.toString();
        writer.add({ t: 'folder', uidValidity, at: new Date().toISOString() });
        const size = messages[0]!.length;
        writer.add({
          t: 'duplicate',
          uidl: 'u1',
          key: 'mid:reading@sensor',
          size,
          listSize: size,
          sizeDiffers: false,
          uid: 1,
          uidValidity,
        });
        for (let i = 2; i <= 5; i++)
          writer.add({
            t: 'duplicate',
            uidl: `u${i}`,
            key: 'mid:reading@sensor',
            size,
            listSize: size,
            sizeDiffers: false,
            uid: 1,
            uidValidity,
          });
        writer.flush();
        return Promise.resolve();
      });
      const run = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(run.summary.deleted).toBe(1);
      expect(mailbox.messages).toHaveLength(4);
      expect(run.warnings.join('\n')).toMatch(/4 message\(s\) stay on POP3 server .*no copy in the folder is the same message/);
      expect(run.summary.failed).toBe(4);
      expect(summaryExitCode(run.summary)).toBe(1);
      // The journal no longer vouches for them: the next run finds no copy is them and uploads them.
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(next.summary.appended).toBe(4);
      expect(next.summary.deleted).toBe(4);
      expect(summaryExitCode(next.summary)).toBe(0);
      expectEachOnce(account, messages);
    } finally {
      journal.remove();
    }
  });

  it('keeps a message whose copy at its UID was altered in the folder, as stored changed, and does not exit 0', async () => {
    const messages = Array.from({ length: 5 }, (_, i) => mail(i + 1));
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer();
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      for (const m of account.folders.get('Archive')!.messages)
        m.content = Buffer.from(m.content.toString('latin1').replace('Body', 'B0dy'));
      const run = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(run.summary.deleted).toBe(0);
      expect(mailbox.messages).toHaveLength(5);
      expect(run.summary.storedChanged).toBe(5);
      expect(summaryExitCode(run.summary)).toBe(1);
      // Not uploaded again.
      await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(stored(account)).toHaveLength(5);
    } finally {
      journal.remove();
    }
  });
});

describe('a copy the server changed beyond the copy rule', () => {
  /** What a server that rebuilds messages may store: a body re-encoded, not only line ends or 8-bit header bytes. */
  const rebuild = (content: Buffer) => Buffer.from(content.toString('latin1').replace('Body of', 'Body  of'), 'latin1');

  it('is not uploaded again after a lost reply, is reported stored changed, and stays on the source', async () => {
    const messages = [mail(1, { messageId: false }), mail(2, { messageId: false }), mail(3)];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: rebuild });
    account.addFolder('Archive');
    // The reply to the second APPEND is lost after the server stored it: the whole batch's outcome is unknown.
    account.faults.drops = [{ afterUploads: 1, stored: true }];
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      const run = await journal.with((j) => migrate(endpoints, migrateOptions({ batchMessages: 3, delete: true, journal: j })));
      expect(stored(account)).toHaveLength(3);
      expect(run.summary.appended + run.summary.storedChanged).toBe(3);
      expect(run.summary.storedChanged).toBe(3);
      expect(run.summary.deleted).toBe(0);
      expect(mailbox.messages).toHaveLength(3);
      expect(summaryExitCode(run.summary)).toBe(1);
      // The next run does not send them again, and still does not call them proven.
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(stored(account)).toHaveLength(3);
      expect(next.summary.appended).toBe(0);
      expect(next.summary.storedChanged).toBe(3);
      expect(mailbox.messages).toHaveLength(3);
      expect(summaryExitCode(next.summary)).toBe(1);
      // verify names each one: no copy in the folder is it.
      const report = await verify(mailbox, account);
      expect(report.problems.map((p) => p.uidl).sort()).toEqual(['u1', 'u2', 'u3']);
      expect(verifyExitCode(report)).toBe(1);
    } finally {
      journal.remove();
    }
  });

  it('is found by --delete at the UID the server named, reported, and kept on the source', async () => {
    const messages = [mail(1, { messageId: false }), mail(2)];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: rebuild });
    account.addFolder('Archive');
    const run = await migrate(memoryEndpoints(mailbox, account), migrateOptions({ delete: true }));
    expect(stored(account)).toHaveLength(2);
    expect(run.summary.storedChanged).toBe(2);
    expect(run.summary.appended).toBe(0);
    expect(run.summary.failed).toBe(0);
    expect(mailbox.messages).toHaveLength(2);
    expect(summaryExitCode(run.summary)).toBe(1);
  });

  it('is found by the confirmation when the server names no UID, and not uploaded again next run', async () => {
    const messages = [mail(1, { messageId: false }), mail(2)];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: rebuild, uidPlus: false });
    account.addFolder('Archive');
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      const run = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(run.summary.storedChanged).toBe(2);
      expect(run.summary.failed).toBe(0);
      expect(summaryExitCode(run.summary)).toBe(1);
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(next.summary.appended).toBe(0);
      expect(stored(account)).toHaveLength(2);
    } finally {
      journal.remove();
    }
  });

  it('is found by the next run when the run that stored it ended on the lost reply', async () => {
    // No Message-ID and no UIDPLUS: nothing but the folder's UIDs since that run tells the copy apart.
    const messages = [mail(1, { messageId: false })];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: rebuild, uidPlus: false, rebuildsMessages: true });
    account.addFolder('Archive', [mail('old', { messageId: false })]);
    // The connection drops before the first APPEND is stored, then after the retry's APPEND was stored:
    // the run gives up, so it ends with the message's outcome unknown.
    account.faults.drops = [
      { afterUploads: 0, stored: false },
      { afterUploads: 0, stored: true },
    ];
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      const run = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, retries: 2 }))).catch(() => undefined);
      if (run) expect(summaryExitCode(run.summary)).not.toBe(0);
      expect(stored(account)).toHaveLength(2);
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(next.summary.appended).toBe(0);
      expect(next.summary.storedChanged).toBe(1);
      expect(stored(account)).toHaveLength(2);
      expect(mailbox.messages).toHaveLength(1);
      expect(summaryExitCode(next.summary)).toBe(1);
    } finally {
      journal.remove();
    }
  });

  it('is not taken for either of two messages it may be the copy of: both are kept and named, none is stored twice', async () => {
    // Two messages under one fallback key, each differing from the other in one line, which the server rewrites.
    const messages = [
      mail('shared', { messageId: false, body: 'Body of message 1.\r\n' }),
      mail('shared', { messageId: false, body: 'Body of message 2.\r\n' }),
    ];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: rebuild, uidPlus: false, rebuildsMessages: true });
    account.addFolder('Archive');
    // The first upload is stored and its answer lost with the second, which is not stored; the run gives up.
    account.faults.drops = [{ afterUploads: 1, stored: false }];
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      for (let run = 0; run < 3; run++) {
        const result = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, delete: true, retries: 1 })));
        expect(summaryExitCode(result.summary)).toBe(1);
        expect(stored(account)).toEqual([rebuild(messages[0]!)]);
        expect(mailbox.messages).toHaveLength(2);
        if (run > 0) {
          expect(result.summary.failed).toBe(2);
          for (const f of result.summary.failures) expect(f.reason).toMatch(/\(UID 1\).*cannot tell which.*delete it from the folder/);
        }
      }
      // Once the copy is gone from the folder, both are sent.
      account.folders.get('Archive')!.messages.length = 0;
      const after = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(after.summary.failed).toBe(0);
      expect(after.summary.storedChanged).toBe(2);
      expect(stored(account)).toEqual(messages.map(rebuild));
    } finally {
      journal.remove();
    }
  });

  it('is not taken from another writer on a server not known to change messages', async () => {
    // The upload is cut off before anything is stored, and the run ends. Then a mail client saves a
    // message with the same header fields into the folder: on a server that stores messages as sent,
    // that is not the upload's copy, and the next run sends the message.
    const same = sameHeaders;
    const mailbox = new MemoryMailbox([same('mine')]);
    const account = new MemoryImapServer({ uidPlus: false });
    account.addFolder('Archive');
    account.faults.drops = [{ afterUploads: 0, stored: false }];
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, retries: 0 }))).catch(() => undefined);
      expect(stored(account)).toEqual([]);
      account.store(account.folders.get('Archive')!, { content: same('a client saved this'), flags: [], date: undefined });
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(next.summary).toMatchObject({ appended: 1, storedChanged: 0 });
      expect(summaryExitCode(next.summary)).toBe(0);
      expect(stored(account)).toEqual([same('a client saved this'), same('mine')]);
    } finally {
      journal.remove();
    }
  });

  it('is not taken for the copy of a message an earlier run proved and deleted', async () => {
    // Two messages under one fallback key, no UIDPLUS. The first run copies, proves and deletes the
    // first; the second's upload is cut off, and then refused. The folder's message since that run is
    // the first one's copy, though the journal no longer lists the first among the messages to move.
    const same = (i: number) => sameHeaders(`Body of ${i}.`);
    const messages = [same(1), same(2)];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ uidPlus: false });
    account.addFolder('Archive');
    account.faults.drops = [{ afterUploads: 1, stored: false }];
    account.faults.refuse = (content) => content.equals(same(2));
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      const first = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, delete: true, batchMessages: 1 })));
      expect(first.summary.deleted).toBe(1);
      expect(stored(account)).toEqual([same(1)]);
      account.faults.refuse = () => false;
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(next.summary.storedChanged).toBe(0);
      expect(summaryExitCode(next.summary)).toBe(0);
      expectEachOnce(account, messages);
    } finally {
      journal.remove();
    }
  });

  it('is not taken for the copy of a message an earlier run proved', async () => {
    // Two messages under one fallback key (the same header fields, no Message-ID). The first run
    // proves the first; its second upload is cut off before the server stored it. The folder's new
    // message since that run is the first one's copy, not the second's.
    const same = (i: number) => sameHeaders(`Body of ${i}.`);
    const messages = [same(1), same(2)];
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ uidPlus: false });
    account.addFolder('Archive');
    account.faults.drops = [
      { afterUploads: 1, stored: false },
      { afterUploads: 0, stored: false },
    ];
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j, retries: 2, batchMessages: 1 }))).catch(() => undefined);
      expect(stored(account)).toEqual([same(1)]);
      const next = await journal.with((j) => migrate(endpoints, migrateOptions({ journal: j })));
      expect(summaryExitCode(next.summary)).toBe(0);
      expectEachOnce(account, messages);
    } finally {
      journal.remove();
    }
  });
});

describe('a server that rebuilds every message, under random faults', () => {
  const rebuild = (content: Buffer) => Buffer.from(content.toString('latin1').replace('Body of', 'Body  of'), 'latin1');

  // Connections lost before or after the server stored what they cut off, and MULTIAPPENDs it stores in
  // part, on a server that rewrites every message it stores: nothing is proven, so nothing may be deleted,
  // no run may exit 0, and nothing may be stored twice. Messages with and without a Message-ID, some
  // sharing one key (`shared`: the same header fields, another body), with and without UIDPLUS.
  it('never stores a message twice, never deletes one, and never exits 0', async () => {
    const fault = fc.record({
      drops: fc.array(fc.option(fc.record({ afterUploads: fc.nat({ max: 4 }), stored: fc.boolean() }), { nil: undefined }), {
        maxLength: 2,
      }),
      partialBatches: fc.array(fc.nat({ max: 3 }), { maxLength: 2 }),
      multiAppend: fc.boolean(),
    });
    const scenario = fc.record({
      messages: fc.array(fc.record({ withId: fc.boolean(), shared: fc.boolean() }), { minLength: 1, maxLength: 6 }),
      uidPlus: fc.boolean(),
      runs: fc.array(fault, { minLength: 1, maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ messages, uidPlus, runs }) => {
        const source = messages.map((m, i) => mail(m.shared ? 'shared' : i, { messageId: m.withId, body: `Body of message ${i}.\r\n` }));
        const distinct = source.filter((m, i) => source.findIndex((o) => o.equals(m)) === i);
        const mailbox = new MemoryMailbox(source);
        // A server that says it rebuilds what it stores (as WildDuck's greeting does).
        const account = new MemoryImapServer({ onStore: rebuild, uidPlus, rebuildsMessages: true });
        account.addFolder('Archive', [mail('old')]);
        const endpoints = memoryEndpoints(mailbox, account);
        const journal = new JournalFile();
        try {
          for (const run of [...runs, undefined]) {
            Object.assign(account.faults, { drops: [...(run?.drops ?? [])], partialBatches: [...(run?.partialBatches ?? [])] });
            const options = migrateOptions({ delete: true, multiAppend: run?.multiAppend ?? false, batchMessages: 2, retries: 2 });
            const before = stored(account).length;
            // The journal is what ties a changed copy to its message across runs (README: without it a
            // later run cannot tell such a copy from another message's).
            const result = await journal.with((j) => migrate(endpoints, { ...options, journal: j })).catch(() => undefined);
            // Nothing is stored as it was sent, so nothing is proven, nothing deleted, and no run exits 0.
            expect(mailbox.messages).toHaveLength(source.length);
            const folder = stored(account);
            if (result) {
              expect(summaryExitCode(result.summary)).not.toBe(0);
              // What the folder received, the summary says: appended, stored changed, or failed with its
              // outcome unknown (a reply lost with the connection; the next run looks for its copy first).
              expect(folder.length - before).toBeLessThanOrEqual(
                result.summary.appended + result.summary.storedChanged + result.summary.failed,
              );
            }
            for (const m of distinct) expect(folder.filter((s) => s.equals(rebuild(m))).length).toBeLessThanOrEqual(1);
          }
        } finally {
          journal.remove();
        }
      }),
      { numRuns: Number(process.env.POPLIFT_PROPERTY_RUNS ?? 500) },
    );
  });
});
