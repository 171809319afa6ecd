import { describe, expect, it } from 'vitest';
import { DedupIndex } from '../../src/engine/dedup-index.js';
import { copyDigests } from '../../src/message/copy-rule.js';
import { crFoldedSizes } from '../../src/message/cr-runs.js';
import { prepareMessage } from '../../src/message/prepared-message.js';
import { CopyLookup } from '../../src/engine/copy-lookup.js';
import { contentKeyOfMessage, indexKey } from '../../src/message/identity-key.js';
import { headerBlock, parseHeaders } from '../../src/message/headers.js';
import type { FolderIndex } from '../../src/store/mail-store.js';

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
  it('gives a message without Message-ID the key of its rewritten forms', () => {
    const m = Buffer.from('From: a@example.org\r\nSubject: s\r\n\r\ncr\r\r\nend\r\n');
    const p = prepareMessage(m, opts);
    const stored = Buffer.from('From: a@example.org\r\nSubject: s\r\n\r\ncr\r\nend\r\n');
    expect(p.key).toMatch(/^fb:/);
    expect(contentKeyOfMessage(stored)).toBe(p.key);
    expect(p.altSizes).toContain(stored.length);
  });
  it('needs no alternative keys for a Message-ID', () => {
    const p = prepareMessage(Buffer.from('Message-ID: <a@b>\r\n\r\ncr\r\r\n'), opts);
    expect(p.key).toBe('mid:a@b');
    expect(p.altKeys).toEqual([]);
  });
});

/** A folder of `messages` (UID = position + 1), indexed as the engine indexes one, and the UIDs fetched from it. */
function folderOf(messages: Buffer[]): { lookup: CopyLookup; fetched: number[] } {
  const index: FolderIndex = new Map();
  messages.forEach((m, i) => {
    const key = indexKey(parseHeaders(headerBlock(m)));
    index.set(key, [...(index.get(key) ?? []), { uid: i + 1, size: m.length }]);
  });
  const fetched: number[] = [];
  const lookup = new CopyLookup(index, (uids, _binary, each) => {
    for (const uid of uids) {
      fetched.push(uid);
      each(uid, messages[uid - 1]!);
    }
    return Promise.resolve();
  });
  return { lookup, fetched };
}

const withId = (id: string, body: string) => Buffer.from(`Message-ID: <${id}>\r\nSubject: s\r\n\r\n${body}`);
const withoutId = (body: string) => Buffer.from(`From: a@example.org\r\nSubject: s\r\n\r\n${body}`);

describe('DedupIndex', () => {
  it('finds a key on the destination and compares sizes', async () => {
    const stored = withId('a@b', 'x'.repeat(100));
    const index = new DedupIndex(folderOf([stored]).lookup);
    const size = stored.length;
    expect(await index.check('mid:a@b', size, 'U1')).toEqual({
      uidl: 'U1',
      key: 'mid:a@b',
      keptIn: 'destination',
      keptAs: 'UID 1',
      keptUid: 1,
      sizeDiffers: false,
    });
    expect((await index.check('mid:a@b', size + 1, 'U2'))?.sizeDiffers).toBe(true);
    expect((await index.check('mid:a@b', size + 1, 'U2', [], [size]))?.sizeDiffers).toBe(false);
  });

  it('finds a key uploaded earlier in the same run', async () => {
    const index = new DedupIndex(folderOf([]).lookup);
    expect(await index.check('mid:x@y', 10, 'U1')).toBeUndefined();
    index.remember('mid:x@y', 10, 'U1');
    expect(await index.check('mid:x@y', 12, 'U2')).toEqual({
      uidl: 'U2',
      key: 'mid:x@y',
      keptIn: 'this-run',
      keptAs: 'U1',
      keptUid: undefined,
      sizeDiffers: true,
    });
  });

  it('matches through an alternative key', async () => {
    const index = new DedupIndex(folderOf([withId('alt@b', 'body')]).lookup);
    expect(await index.check('mid:main@b', 51, 'U1', ['mid:alt@b'])).toMatchObject({ keptAs: 'UID 1', sizeDiffers: true });
  });

  it('without Message-ID, takes for a copy only a message with the same body, fetching each candidate once', async () => {
    const ok = withoutId('backup OK\r\n');
    const ko = withoutId('backup KO\r\n');
    const { lookup, fetched } = folderOf([ok]);
    const index = new DedupIndex(lookup);
    expect(await index.check(contentKeyOfMessage(ko), ko.length, 'U1')).toBeUndefined();
    // The same message stored with its line ends rewritten (another size) is its copy.
    const stripped = Buffer.from(ok.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    expect(await index.check(contentKeyOfMessage(stripped), stripped.length, 'U2')).toMatchObject({ keptUid: 1, sizeDiffers: false });
    expect(fetched).toEqual([1]);
  });
});

describe('DedupIndex given the message bytes: the copy rule decides', () => {
  const whole = (content: Buffer) => ({ content, digests: copyDigests(content) });

  it('does not take another message with the Message-ID and size for a copy', async () => {
    const a = withId('reading@sensor', 'temperature 001');
    const b = withId('reading@sensor', 'temperature 002');
    const { lookup, fetched } = folderOf([a]);
    const index = new DedupIndex(lookup);
    expect(await index.check('mid:reading@sensor', b.length, 'U2', [], [], whole(b))).toBeUndefined();
    expect(await index.check('mid:reading@sensor', a.length, 'U1', [], [], whole(a))).toMatchObject({ keptUid: 1, sizeDiffers: false });
    // Each copy is fetched once per run, however many messages carry its key.
    expect(fetched).toEqual([1]);
  });

  it('fetches nothing when the key is not in the folder', async () => {
    const { lookup, fetched } = folderOf([withId('other@b', 'x')]);
    const m = withId('new@b', 'x');
    expect(await new DedupIndex(lookup).check('mid:new@b', m.length, 'U1', [], [], whole(m))).toBeUndefined();
    expect(fetched).toEqual([]);
  });

  it('takes a message of this run for a copy only when it is the message by the copy rule', async () => {
    const index = new DedupIndex(folderOf([]).lookup);
    const a = withId('reading@sensor', 'temperature 001\r\n');
    const b = withId('reading@sensor', 'temperature 002\r\n');
    index.remember('mid:reading@sensor', a.length, 'U1', copyDigests(a));
    expect(await index.check('mid:reading@sensor', b.length, 'U2', [], [], whole(b))).toBeUndefined();
    // The same mail delivered twice, one copy with LF line ends, is one message.
    const again = Buffer.from(a.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    expect(await index.check('mid:reading@sensor', again.length, 'U3', [], [], whole(again))).toMatchObject({
      keptIn: 'this-run',
      keptAs: 'U1',
    });
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
