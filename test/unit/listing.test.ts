import { describe, expect, it } from 'vitest';
import { Listing } from '../../src/store/listing.js';

describe('Listing', () => {
  const listing = Listing.fromEntries(
    [
      { n: 1, size: 100, uidl: 'a' },
      { n: 2, size: 200, uidl: 'b' },
      { n: 5, size: 500, uidl: 'a' },
      { n: 7, size: 700, uidl: 'c' },
      // Beyond 32 bits: a number must come back exactly as the server gave it, or DELE would name another message.
      { n: 2 ** 32 + 1, size: 1, uidl: 'big' },
    ],
    true,
  );

  it('keeps the order and names a repeated UIDL by its number', () => {
    expect([...listing.order]).toEqual(['a', 'b', '#5', 'c', 'big']);
    expect(listing.hasUidl).toBe(true);
  });

  it('finds number and size by UIDL, and the UIDL by number', () => {
    expect(listing.number('#5')).toBe(5);
    expect(listing.size('#5')).toBe(500);
    expect(listing.number('c')).toBe(7);
    expect(listing.number('big')).toBe(2 ** 32 + 1);
    expect(listing.uidlOf(2 ** 32 + 1)).toBe('big');
    for (const [n, uidl] of [
      [1, 'a'],
      [2, 'b'],
      [5, '#5'],
      [7, 'c'],
    ] as const)
      expect(listing.uidlOf(n)).toBe(uidl);
  });

  it('answers undefined for what is not listed', () => {
    expect(listing.has('zzz')).toBe(false);
    expect(listing.number('zzz')).toBeUndefined();
    expect(listing.size('zzz')).toBeUndefined();
    for (const n of [0, 3, 6, 8, 2 ** 32]) expect(listing.uidlOf(n)).toBeUndefined();
    expect(Listing.fromEntries([], false).uidlOf(1)).toBeUndefined();
  });

  it('never gives two messages one name, even when a server uses "#n" UIDLs itself', () => {
    const tricky = Listing.fromEntries(
      [
        { n: 2, size: 1, uidl: '#5' },
        { n: 3, size: 1, uidl: 'x' },
        { n: 4, size: 1, uidl: 'x' },
        { n: 5, size: 1, uidl: '#5' },
        { n: 6, size: 1, uidl: '#4' },
      ],
      true,
    );
    expect([...tricky.order]).toEqual(['#5', 'x', '#4', '#5#', '#6']);
    expect(new Set(tricky.order).size).toBe(5);
    expect(tricky.order.map((u) => tricky.number(u))).toEqual([2, 3, 4, 5, 6]);
  });

  it('refuses entries out of message-number order', () => {
    expect(() =>
      Listing.fromEntries(
        [
          { n: 2, size: 1, uidl: 'x' },
          { n: 1, size: 1, uidl: 'y' },
        ],
        true,
      ),
    ).toThrow(RangeError);
  });
});
