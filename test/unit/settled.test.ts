import { describe, expect, it } from 'vitest';
import { copyDigests } from '../../src/message/copy-rule.js';
import { Listing } from '../../src/store/listing.js';
import { SettledMessages } from '../../src/engine/settled.js';
import type { Settled } from '../../src/engine/settled.js';

const listing = Listing.fromEntries(
  ['u1', 'u2', 'u3', 'u4', 'u5'].map((uidl, i) => ({ uidl, n: i + 1, size: 100 * (i + 1) })),
  true,
);

describe('SettledMessages', () => {
  it('gives back every outcome as it was set', () => {
    const settled = new SettledMessages();
    settled.useListing(listing);
    const cases: Array<[string, Settled]> = [
      ['u1', { outcome: 'appended', key: 'mid:<a@x>', size: 1234, uid: 42, uidValidity: 7n }],
      ['u2', { outcome: 'appended', key: 'fb:abc', size: 0, uid: undefined, uidValidity: undefined }],
      [
        'u3',
        { outcome: 'duplicate', key: 'mid:<a@x>', size: 1300, sizeDiffers: true, keptIn: 'this-run', keptAs: 'u1', keptUid: undefined },
      ],
      ['u5', { outcome: 'failed' }],
      [
        'elsewhere',
        { outcome: 'duplicate', key: 'mid:<b@x>', size: 9, sizeDiffers: false, keptIn: 'destination', keptAs: 'UID 3', keptUid: 3 },
      ],
    ];
    for (const [uidl, s] of cases) settled.set(uidl, s);
    for (const [uidl, s] of cases) expect(settled.get(uidl)).toEqual(s);
    expect(settled.size).toBe(5);
    expect(settled.has('u4')).toBe(false);
    expect(settled.get('u4')).toBeUndefined();
    expect(settled.has('nowhere')).toBe(false);
    expect([...settled].map(([u]) => u)).toEqual(['u1', 'u2', 'u3', 'u5', 'elsewhere']);
  });

  it('gives back the copy-rule digests of each message, with the forms a server would store it in', () => {
    const settled = new SettledMessages();
    settled.useListing(listing);
    const plain = copyDigests(Buffer.from('Subject: x\r\n\r\nbody\r\n', 'latin1'));
    const changeable = copyDigests(Buffer.from('Subject: caf\xe9\r\n\r\nbare\rCR\r\n', 'latin1'));
    expect(changeable.storedAs).toHaveLength(3);
    settled.setDigests('u1', plain);
    settled.setDigests('u2', changeable);
    settled.setDigests('elsewhere', changeable);
    expect(settled.digests('u1')).toEqual(plain);
    expect(settled.digests('u2')).toEqual(changeable);
    expect(settled.digests('elsewhere')).toEqual(changeable);
    expect(settled.digests('u3')).toBeUndefined();
    settled.setDigests('u2', plain);
    expect(settled.digests('u2')).toEqual(plain);
  });

  it('replaces an outcome without counting the message twice', () => {
    const settled = new SettledMessages();
    settled.useListing(listing);
    settled.set('u2', { outcome: 'duplicate', key: 'k', size: 5, sizeDiffers: false, keptIn: 'destination', keptAs: 'UID 9', keptUid: 9 });
    settled.set('u2', { outcome: 'planned' });
    expect(settled.size).toBe(1);
    expect(settled.get('u2')).toEqual({ outcome: 'planned' });
  });

  it('keeps messages in a map until it has a listing, and takes none after', () => {
    const settled = new SettledMessages();
    settled.set('u1', { outcome: 'failed' });
    expect(settled.get('u1')).toEqual({ outcome: 'failed' });
    expect(() => settled.useListing(listing)).toThrow();
  });
});
