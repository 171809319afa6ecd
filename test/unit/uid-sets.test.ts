import { describe, expect, it } from 'vitest';
import { forUidSets } from '../../src/imap/uid-sets.js';

describe('forUidSets', () => {
  it('sends each set once when the server takes it, UIDs sorted and without repeats', async () => {
    const sent: string[] = [];
    await forUidSets(
      [9, 3, 4, 3, 5],
      (set) => {
        sent.push(set);
        return Promise.resolve(true);
      },
      () => Promise.reject(new Error('not asked')),
    );
    expect(sent).toEqual(['3:5,9']);
  });

  it('sends a refused set again with only the UIDs the folder lists (GNU Mailutils answers BAD to a set naming an absent UID)', async () => {
    const sent: string[] = [];
    const asked: number[] = [];
    await forUidSets(
      [3, 4, 7],
      (set) => {
        sent.push(set);
        return Promise.resolve(!set.includes('4'));
      },
      (from) => {
        asked.push(from);
        return Promise.resolve(new Set([3, 7, 8]));
      },
    );
    expect(sent).toEqual(['3:4,7', '3,7']);
    expect(asked).toEqual([3]);
  });

  it('fails on a second refusal, so nothing is taken for absent unproven', async () => {
    await expect(
      forUidSets(
        [3, 7],
        () => Promise.resolve(false),
        () => Promise.resolve(new Set([3, 7])),
      ),
    ).rejects.toThrow(/refused UID set 3,7… twice/);
  });

  it('sends nothing more when none of a refused set is in the folder', async () => {
    const sent: string[] = [];
    await forUidSets(
      [3],
      (set) => {
        sent.push(set);
        return Promise.resolve(false);
      },
      () => Promise.resolve(new Set<number>()),
    );
    expect(sent).toEqual(['3']);
  });
});
