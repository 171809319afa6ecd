import { describe, expect, it } from 'vitest';
import { DedupIndex } from '../../src/engine/dedup-index.js';
import { crFoldedSizes } from '../../src/message/cr-runs.js';
import { prepareMessage } from '../../src/message/prepared-message.js';
import { keyOfMessage } from '../../src/message/identity-key.js';

const opts = { extraFlags: [], keepDeletedFlag: false, dateMode: 'received' as const };

describe('CR runs before LF', () => {
  it('has no alternative sizes without such a run', () => {
    expect(crFoldedSizes(Buffer.from('a\r\nb\rc\r\n'))).toEqual([]);
  });
  it('gives the folded and the one-dropped sizes', () => {
    const m = Buffer.from('x\r\r\ny\r\r\r\nz\r\n');
    // fold all: x\r\n y\r\n -> 3 fewer; drop one per run: 2 fewer
    expect(crFoldedSizes(m).sort()).toEqual([m.length - 3, m.length - 2].sort());
  });
  it('gives a message without Message-ID the keys of its rewritten forms', () => {
    const m = Buffer.from('From: a@example.org\r\nSubject: s\r\n\r\ncr\r\r\nend\r\n');
    const p = prepareMessage(m, opts);
    const stored = Buffer.from('From: a@example.org\r\nSubject: s\r\n\r\ncr\r\nend\r\n');
    expect(p.key).toMatch(/^fb:/);
    expect(p.altKeys).toContain(keyOfMessage(stored));
  });
  it('needs no alternative keys for a Message-ID', () => {
    const p = prepareMessage(Buffer.from('Message-ID: <a@b>\r\n\r\ncr\r\r\n'), opts);
    expect(p.key).toBe('mid:a@b');
    expect(p.altKeys).toEqual([]);
  });
});

describe('DedupIndex', () => {
  const destination = new Map([['mid:a@b', [{ uid: 7, size: 100 }]]]);

  it('finds a key on the destination and compares sizes', () => {
    const index = new DedupIndex(destination);
    expect(index.check('mid:a@b', 100, 'U1')).toEqual({
      uidl: 'U1',
      key: 'mid:a@b',
      keptIn: 'destination',
      keptAs: 'UID 7',
      keptUid: 7,
      sizeDiffers: false,
    });
    expect(index.check('mid:a@b', 101, 'U2')?.sizeDiffers).toBe(true);
    expect(index.check('mid:a@b', 101, 'U2', [], [100])?.sizeDiffers).toBe(false);
  });

  it('finds a key uploaded earlier in the same run', () => {
    const index = new DedupIndex(new Map());
    expect(index.check('mid:x@y', 10, 'U1')).toBeUndefined();
    index.remember('mid:x@y', 10, 'U1');
    expect(index.check('mid:x@y', 12, 'U2')).toEqual({
      uidl: 'U2',
      key: 'mid:x@y',
      keptIn: 'this-run',
      keptAs: 'U1',
      keptUid: undefined,
      sizeDiffers: true,
    });
  });

  it('matches through an alternative key', () => {
    const index = new DedupIndex(new Map([['fb:alt', [{ uid: 3, size: 50 }]]]));
    expect(index.check('fb:main', 51, 'U1', ['fb:alt'], [50])).toMatchObject({ keptAs: 'UID 3', sizeDiffers: false });
  });
});

describe('throttling replies', () => {
  it('waits as long as the server suggests, capped, or 5 s without a hint', async () => {
    const { uploadOutcome } = await import('../../src/imap/imap-destination.js');
    const throttleDelay = (o: Parameters<typeof uploadOutcome>[0]) => {
      const u = uploadOutcome(o);
      return u.outcome === 'throttled' ? u.retryAfterMs : undefined;
    };
    const no = (text: string) => ({ ok: false as const, status: 'NO' as const, code: undefined, text });
    expect(throttleDelay(no('Request is throttled. Suggested Backoff Time: 1234 milliseconds'))).toBe(1234);
    expect(throttleDelay(no('Request is throttled.'))).toBe(5000);
    // Longer than a run waits: the run stops for later instead (exit 6).
    expect(throttleDelay(no('Request is throttled. Suggested Backoff Time: 999999 milliseconds'))).toBeUndefined();
    expect(uploadOutcome(no('Request is throttled. Suggested Backoff Time: 999999 milliseconds'), 'imap.example:993')).toMatchObject({
      outcome: 'later',
      detail: expect.stringMatching(/^throttled for longer than a run waits \(IMAP server imap\.example:993: .*run again after/),
    });
    expect(uploadOutcome(no('[OVERQUOTA] Account exceeded command or bandwidth limits.'))).toMatchObject({ outcome: 'later' });
    expect(throttleDelay(no('Mailbox is full'))).toBeUndefined();
    expect(throttleDelay({ ok: true, uid: 1, uidValidity: 1n })).toBeUndefined();
  });
});
