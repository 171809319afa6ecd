/**
 * The in-memory stores behave as the servers they stand for: the engine's
 * tests prove only as much as these do.
 */
import { describe, expect, it } from 'vitest';
import { isTransient, PopliftError } from '../../src/errors.js';
import { mail } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { MemoryMailbox } from '../stores/memory-source.js';

async function readAll(mailbox: MemoryMailbox): Promise<string[]> {
  const s = await mailbox.connect();
  const listing = await s.list();
  s.close();
  return [...listing.order];
}

describe('MemoryMailbox', () => {
  it('numbers messages per session and removes what was marked only at commit', async () => {
    const mailbox = new MemoryMailbox([mail(1), mail(2), mail(3)]);
    const s1 = await mailbox.connect();
    const l1 = await s1.list();
    expect([...l1.order]).toEqual(['u1', 'u2', 'u3']);
    await s1.markDeleted(s1.requestsFor([1]));
    // Marked messages cannot be read or marked again in the session.
    await expect(s1.retrieve([1], () => undefined)).rejects.toMatchObject({ code: 'POP3_ERR' });
    s1.close();
    expect(await readAll(mailbox)).toEqual(['u1', 'u2', 'u3']);

    const s2 = await mailbox.connect();
    await s2.list();
    await s2.markDeleted(s2.requestsFor([1, 3]));
    await s2.forget();
    await s2.markDeleted(s2.requestsFor([2]));
    await s2.commit();
    expect(mailbox.removed.map((m) => m.uidl)).toEqual(['u2']);
    const s3 = await mailbox.connect();
    const l3 = await s3.list();
    expect([...l3.order]).toEqual(['u1', 'u3']);
    expect(l3.number('u3')).toBe(2);
    s3.close();
  });

  it('hands over byte-exact copies, and headers for TOP', async () => {
    const odd = Buffer.concat([mail(1), Buffer.from([0, 13, 13, 10, 0xff, 13])]);
    const mailbox = new MemoryMailbox([odd]);
    const s = await mailbox.connect();
    await s.list();
    const got: Buffer[] = [];
    await s.retrieve([1], (_, c) => {
      got.push(c);
      c.fill(0);
    });
    await s.readHeaders([1], (_, h) => void got.push(h));
    s.close();
    expect(mailbox.messages[0]!.content.equals(odd)).toBe(true);
    expect(got[1]!.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
    expect(got[1]!.length).toBeLessThan(odd.length);
  });

  it('drops a session after N messages: a transient POP3 error, marks forgotten, the maildrop free', async () => {
    const mailbox = new MemoryMailbox([mail(1), mail(2), mail(3)]);
    mailbox.faults.drops = [{ afterMessages: 1 }];
    const s = await mailbox.connect();
    await s.list();
    await s.markDeleted(s.requestsFor([3]));
    const seen: number[] = [];
    const err = await s.retrieve([1, 2], (n) => void seen.push(n)).catch((e: unknown) => e);
    expect(seen).toEqual([1]);
    expect(err).toBeInstanceOf(PopliftError);
    expect(err).toMatchObject({ code: 'POP3_CONNECTION_LOST', side: 'POP3' });
    expect(isTransient(err)).toBe(true);
    await expect(s.commit()).rejects.toBe(err);
    expect(mailbox.removed).toEqual([]);
    expect(await readAll(mailbox)).toEqual(['u1', 'u2', 'u3']);
  });

  it('drops after N octets and after N commands', async () => {
    const mailbox = new MemoryMailbox([mail(1), mail(2)]);
    mailbox.faults.drops = [{ afterBytes: mail(1).length + 5 }, { afterCommands: 2 }];
    const a = await mailbox.connect();
    await a.list();
    const seen: number[] = [];
    await expect(a.retrieve([1, 2], (n) => void seen.push(n))).rejects.toMatchObject({ code: 'POP3_CONNECTION_LOST' });
    expect(seen).toEqual([1]);
    const b = await mailbox.connect();
    await b.list();
    await expect(b.retrieve([1], () => undefined)).rejects.toMatchObject({ code: 'POP3_CONNECTION_LOST' });
  });

  it('refuses a second session while one is open, and reports unreadable messages through onError', async () => {
    const mailbox = new MemoryMailbox([mail(1), mail(2)]);
    mailbox.faults.unreadable.add('u1');
    const s = await mailbox.connect();
    await expect(mailbox.connect()).rejects.toMatchObject({ code: 'POP3_IN_USE' });
    await s.list();
    const errors: Array<[number, unknown]> = [];
    const read: number[] = [];
    await s.retrieve([1, 2], (n) => void read.push(n), { onError: (n, e) => void errors.push([n, (e as { code?: string }).code]) });
    expect(errors).toEqual([[1, 'POP3_ERR']]);
    expect(read).toEqual([2]);
    await expect(s.retrieve([1], () => undefined)).rejects.toMatchObject({ code: 'POP3_ERR' });
    await s.commit();
  });

  it('can lose the reply to QUIT before or after removing what was marked', async () => {
    const mailbox = new MemoryMailbox([mail(1), mail(2)]);
    mailbox.faults.commitFailures = ['before-update', 'after-update'];
    for (const removed of [0, 1]) {
      const s = await mailbox.connect();
      await s.list();
      await s.markDeleted(s.requestsFor([1]));
      await expect(s.commit()).rejects.toMatchObject({ code: 'POP3_CONNECTION_LOST' });
      expect(mailbox.removed).toHaveLength(removed);
    }
  });
});

describe('MemoryImapServer', () => {
  const item = (content: Buffer) => ({ content, flags: ['\\Seen'], date: new Date('2026-01-02T03:04:05Z') });

  it('creates folders on request, hands out UIDs in order and keeps bytes, flags and date', async () => {
    const account = new MemoryImapServer();
    const d = await account.connect();
    expect((await d.openFolder(['A', 'B'], false)).exists).toBe(false);
    expect(account.created).toEqual([]);
    const folder = await d.openFolder(['A', 'B'], true);
    expect(folder).toMatchObject({ path: 'A/B', exists: true });
    const outcomes = await d.upload(folder, [item(mail(1)), item(mail(2))], true);
    expect(outcomes).toEqual([
      { outcome: 'stored', uid: 1, uidValidity: folder.uidValidity },
      { outcome: 'stored', uid: 2, uidValidity: folder.uidValidity },
    ]);
    expect(await d.status(folder)).toEqual({ uidValidity: folder.uidValidity, uidNext: 3, messages: 2 });
    const stored = account.folders.get('A/B')!.messages[0]!;
    expect(stored.content.equals(mail(1))).toBe(true);
    expect(stored.flags).toEqual(['\\Seen']);
    expect(stored.date.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    const scanned: number[] = [];
    await d.inspect(folder, { flags: true, scan: { fields: ['message-id'], each: (m) => void scanned.push(m.uid) } });
    expect(scanned).toEqual([1, 2]);
  });

  it('loses an upload reply after storing the message, or before', async () => {
    for (const stored of [true, false]) {
      const account = new MemoryImapServer();
      account.addFolder('F');
      account.faults.drops = [{ afterUploads: 1, stored }];
      const d = await account.connect();
      const folder = await d.openFolder(['F'], false);
      const err = await d.upload(folder, [item(mail(1)), item(mail(2))], true).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'IMAP_CONNECTION_LOST', side: 'IMAP' });
      expect(isTransient(err)).toBe(true);
      expect(account.folders.get('F')!.messages).toHaveLength(stored ? 2 : 1);
      await expect(d.status(folder)).rejects.toBe(err);
    }
  });

  it('throttles, refuses, and stops at the quota', async () => {
    const account = new MemoryImapServer();
    account.addFolder('F');
    Object.assign(account.faults, { throttle: 1, throttleMs: 7, refuseNext: 1, quotaBytes: mail(1).length + mail(2).length });
    const d = await account.connect();
    const folder = await d.openFolder(['F'], false);
    const outcomes = await d.upload(folder, [mail(1), mail(2), mail(3), mail(4)].map(item), false);
    expect(outcomes.map((o) => o.outcome)).toEqual(['throttled', 'refused', 'stored', 'stored']);
    expect(outcomes[0]).toMatchObject({ retryAfterMs: 7 });
    expect((await d.upload(folder, [item(mail(5))], false))[0]).toMatchObject({ outcome: 'over-quota' });
  });

  it('sends NUL as 0x80 outside BINARY, as a literal cannot carry it', async () => {
    const account = new MemoryImapServer();
    account.addFolder('F', [Buffer.from('Subject: a\0b\r\n\r\nx\0y')]);
    const d = await account.connect();
    const folder = await d.openFolder(['F'], false);
    const bodies: Buffer[] = [];
    await d.fetchBodies(folder, [1], false, (_, c) => bodies.push(c));
    await d.fetchBodies(folder, [1], true, (_, c) => bodies.push(c));
    expect(bodies.map((b) => b.toString('latin1'))).toEqual(['Subject: a\x80b\r\n\r\nx\x80y', 'Subject: a\0b\r\n\r\nx\0y']);
  });
});
