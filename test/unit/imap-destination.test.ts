import { describe, expect, it } from 'vitest';
import type { AppendItem, AppendOutcome } from '../../src/imap/imap-append-channel.js';
import { ImapDestination } from '../../src/imap/imap-destination.js';
import type { ImapTarget } from '../../src/imap/imap-target.js';
import { PROFILES } from '../../src/imap/provider-profile.js';
import type { FolderInfo, UploadItem } from '../../src/store/mail-store.js';

const folder: FolderInfo = {
  path: 'Archive',
  wireName: 'Archive',
  exists: true,
  uidValidity: 1n,
  permanentFlags: undefined,
  acceptsNewKeywords: true,
  appendLimit: undefined,
  flagsKnown: true,
};

/** An ImapTarget that records what reaches the server, and stores everything it is sent. */
function fakeTarget(profile: keyof typeof PROFILES) {
  const appended: AppendItem[][] = [];
  const stored: Array<{ uids: readonly number[]; flags: readonly string[] }> = [];
  let uid = 100;
  const target = {
    server: 'imap.example:993',
    profile: { profile: PROFILES[profile], reason: 'test' },
    append: (_f: FolderInfo, items: readonly AppendItem[]): Promise<AppendOutcome[]> => {
      appended.push([...items]);
      return Promise.resolve(items.map(() => ({ ok: true as const, uid: ++uid, uidValidity: 1n })));
    },
    addFlags: (_f: FolderInfo, uids: readonly number[], flags: readonly string[]) => {
      stored.push({ uids, flags });
      return Promise.resolve();
    },
  };
  const ctor = ImapDestination as unknown as new (t: ImapTarget) => ImapDestination;
  return { destination: new ctor(target as unknown as ImapTarget), appended, stored };
}

const item = (size: number, flags: string[] = []): UploadItem => ({ content: Buffer.alloc(size, 0x61), flags, date: undefined });

describe('ImapDestination.upload: the provider rules the engine does not know', () => {
  it('Microsoft 365: \\Flagged is left out of APPEND and set by UID afterwards', async () => {
    const { destination, appended, stored } = fakeTarget('m365');
    const outcomes = await destination.upload(folder, [item(10, ['\\Seen', '\\Flagged']), item(10, ['\\Seen'])], true);
    expect(outcomes.map((o) => o.outcome)).toEqual(['stored', 'stored']);
    expect(appended[0]!.map((i) => i.flags)).toEqual([['\\Seen'], ['\\Seen']]);
    expect(stored).toEqual([{ uids: [101], flags: ['\\Flagged'] }]);
  });

  it('elsewhere \\Flagged goes with APPEND', async () => {
    const { destination, appended, stored } = fakeTarget('generic');
    await destination.upload(folder, [item(10, ['\\Flagged'])], true);
    expect(appended[0]![0]!.flags).toEqual(['\\Flagged']);
    expect(stored).toEqual([]);
  });

  it("a message over the provider's size limit is refused before it is sent, and the others go on", async () => {
    const { destination, appended } = fakeTarget('zoho');
    const limit = PROFILES.zoho.appendLimit!;
    const outcomes = await destination.upload(folder, [item(10), item(limit + 1), item(20)], true);
    expect(outcomes.map((o) => o.outcome)).toEqual(['stored', 'refused', 'stored']);
    expect(appended[0]!.map((i) => i.content.length)).toEqual([10, 20]);
  });
});

describe('ImapDestination.upload with --label', () => {
  function labelTarget(answer: boolean, outcomes: AppendOutcome[]) {
    const labelled: Array<{ uids: readonly number[]; labels: readonly string[] }> = [];
    const target = {
      server: 'imap.gmail.com:993',
      profile: { profile: PROFILES.gmail, reason: 'test' },
      append: (): Promise<AppendOutcome[]> => Promise.resolve(outcomes),
      addFlags: () => Promise.resolve(),
      addLabels: (_f: FolderInfo, uids: readonly number[], labels: readonly string[]) => {
        labelled.push({ uids, labels });
        return Promise.resolve(answer);
      },
    };
    const warnings: string[] = [];
    const labelling = { labels: ['Old ISP', 'Étiquette'], warn: (m: string) => warnings.push(m) };
    const ctor = ImapDestination as unknown as new (t: ImapTarget, b: undefined, l: typeof labelling) => ImapDestination;
    return { destination: new ctor(target as unknown as ImapTarget, undefined, labelling), labelled, warnings };
  }

  it('labels the messages stored, by the UIDs APPENDUID named, and not those refused', async () => {
    const { destination, labelled, warnings } = labelTarget(true, [
      { ok: true, uid: 7, uidValidity: 1n },
      { ok: false, status: 'NO', code: undefined, text: 'refused' },
      { ok: true, uid: 9, uidValidity: 1n },
    ]);
    const outcomes = await destination.upload(folder, [item(10), item(10), item(10)], false);
    expect(outcomes.map((o) => o.outcome)).toEqual(['stored', 'refused', 'stored']);
    expect(labelled).toEqual([{ uids: [7, 9], labels: ['Old ISP', 'Étiquette'] }]);
    expect(warnings).toEqual([]);
  });

  it('a refused label leaves the messages stored, and is told once per run', async () => {
    const { destination, warnings } = labelTarget(false, [{ ok: true, uid: 7, uidValidity: 1n }]);
    for (let i = 0; i < 3; i++) expect((await destination.upload(folder, [item(10)], false))[0]!.outcome).toBe('stored');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/refused to add the label 'Old ISP', 'Étiquette' \(UID STORE \+X-GM-LABELS\)/);
  });

  it('a message stored without a UID cannot be labelled: told once', async () => {
    const { destination, labelled, warnings } = labelTarget(true, [{ ok: true, uid: undefined, uidValidity: undefined }]);
    await destination.upload(folder, [item(10)], false);
    expect(labelled).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/did not say the UID of 1 uploaded message\(s\)/)]);
  });
});
