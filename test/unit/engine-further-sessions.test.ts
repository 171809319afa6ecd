/**
 * When a run opens a further POP3 session to look for more: only when
 * something shows the source may list more in it (Gmail's windows), so a
 * server that lists the whole mailbox at once is logged in to once per run,
 * while a windowed one still gets every message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { furtherSessionsNeeded } from '../../src/engine/migrate.js';
import type { JournalState } from '../../src/state/journal.js';
import { Listing } from '../../src/store/listing.js';
import { JournalFile, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';

const journals: JournalFile[] = [];
function journalFile(): JournalFile {
  const j = new JournalFile();
  journals.push(j);
  return j;
}
afterEach(() => {
  for (const j of journals.splice(0)) j.remove();
});

function listing(uidls: string[], hasUidl = true): Listing {
  return Listing.fromEntries(
    uidls.map((uidl, i) => ({ uidl, n: i + 1, size: 100 })),
    hasUidl,
  );
}

function journal(done: string[], windowListed?: number): JournalState {
  const known = { outcome: 'appended', key: 'k', size: 100, listSize: 100, suspect: false, uid: 1, uidValidity: '1', sizeDiffers: false };
  return {
    done: new Map(done.map((u) => [u, { ...known }] as const)),
    unconfirmed: new Set(),
    deleted: new Set(),
    folder: undefined,
    badLines: 0,
    poisoned: new Map(),
    poisonSide: new Map(),
    poisonSize: new Map(),
    windowListed,
  } as JournalState;
}

describe('furtherSessionsNeeded', () => {
  it('says no for a server that lists what it listed before and more', () => {
    expect(furtherSessionsNeeded(listing(['a', 'b', 'c']), undefined, false)).toBeUndefined();
    expect(furtherSessionsNeeded(listing(['a', 'b', 'c']), journal([]), false)).toBeUndefined();
    expect(furtherSessionsNeeded(listing(['a', 'b', 'c', 'd']), journal(['a', 'b']), false)).toBeUndefined();
    // A listing of another length than the window seen before.
    expect(furtherSessionsNeeded(listing(['a', 'b', 'c']), journal(['a'], 4), false)).toBeUndefined();
  });

  it('says yes when asked, for a known windowed server, after a window of that length, or when what was read is gone', () => {
    expect(furtherSessionsNeeded(listing(['a']), undefined, true)).toBe('--max-sessions');
    const gmail = listing(['a']);
    gmail.movingWindow = 'Gmail (greeting)';
    expect(furtherSessionsNeeded(gmail, undefined, false)).toBe('Gmail (greeting)');
    expect(furtherSessionsNeeded(listing(['a', 'b', 'c']), journal(['a'], 3), false)).toBe('a window of this length seen before');
    expect(furtherSessionsNeeded(listing(['c', 'd']), journal(['a', 'b']), false)).toBe(
      'none of the messages copied earlier and left on the server is listed',
    );
    // Without UIDLs the journal's ids are message numbers: they say nothing of what is gone.
    expect(furtherSessionsNeeded(listing(['3', '4'], false), journal(['1', '2']), false)).toBeUndefined();
  });
});

describe('further sessions on in-memory stores', () => {
  it('a server that lists everything at once: one session per run, unless --max-sessions asks for more', async () => {
    const mailbox = new MemoryMailbox(mails(6));
    const account = new MemoryImapServer();
    const { summary } = await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    expect(summary).toMatchObject({ found: 6, appended: 6, sessions: 1 });
    expect(mailbox.sessionsOpened).toBe(1);
    mailbox.deliver(mails(1, 7)[0]!);
    const asked = await migrate(memoryEndpoints(mailbox, account), migrateOptions({ lookForMore: true }));
    expect(asked.summary).toMatchObject({ found: 7, appended: 1, sessions: 2 });
  });

  it('a known windowed server: every message in one run, a session per window', async () => {
    const mailbox = new MemoryMailbox(mails(12), { window: 5, movingWindow: 'Gmail (greeting)' });
    const account = new MemoryImapServer();
    const { summary } = await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    // Three windows (5, 5, 2) and one that lists nothing new.
    expect(summary).toMatchObject({ found: 12, appended: 12, failed: 0, sessions: 4, stopReason: undefined });
    expect(account.folders.get('Archive')!.messages).toHaveLength(12);
  });

  it('an unknown windowed server is seen by its second run, which reaches the rest; its window length is recorded', async () => {
    const mailbox = new MemoryMailbox(mails(12), { window: 5 });
    const account = new MemoryImapServer();
    const file = journalFile();
    const run = () => file.with((journal) => migrate(memoryEndpoints(mailbox, account), migrateOptions({ journal })));
    // Nothing shows the first listing is a window: the first run moves it alone.
    expect((await run()).summary).toMatchObject({ found: 5, appended: 5, sessions: 1 });
    // The next lists none of those five, still on the server: a window; further sessions reach the rest.
    expect((await run()).summary).toMatchObject({ found: 7, appended: 7, sessions: 3 });
    expect(file.load().windowListed).toBe(5);
    expect(account.folders.get('Archive')!.messages).toHaveLength(12);
    // A run whose first listing has the window's length looks further too.
    for (const m of mails(11, 13)) mailbox.deliver(m);
    expect((await run()).summary).toMatchObject({ found: 11, appended: 11, sessions: 4 });
    expect(account.folders.get('Archive')!.messages).toHaveLength(23);
  });
});
