import { afterEach, describe, expect, it } from 'vitest';
import { Pop3Session, type Pop3ConnectOptions } from '../../src/pop3/pop3-session.js';
import { startGmailPop3, type GmailPop3 } from '../helpers/gmail-pop3.js';

function message(i: number): Buffer {
  return Buffer.from(`Message-ID: <m${i}@example.org>\r\nSubject: number ${i}\r\n\r\nbody ${i}\r\n`);
}

let server: GmailPop3 | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function session(user = 'alice', extra: Partial<Pop3ConnectOptions> = {}): Promise<Pop3Session> {
  return Pop3Session.connect({ host: server!.host, port: server!.port, tls: false, user, password: 'secret', timeoutMs: 5_000, ...extra });
}

describe('Gmail-style POP3: each session serves a window of the oldest messages not yet downloaded', () => {
  it('lists at most `window` messages, the oldest first, and the next window after RETR and QUIT', async () => {
    server = await startGmailPop3({ messages: Array.from({ length: 12 }, (_, i) => message(i)), window: 5 });
    const first = await session();
    expect(first.capabilities.has('X-GOOGLE-RICO')).toBe(true);
    expect(await first.stat()).toMatchObject({ count: 5 });
    const uidls = await first.uidl();
    expect([...uidls!.values()]).toEqual(['GmailId1000', 'GmailId1001', 'GmailId1002', 'GmailId1003', 'GmailId1004']);
    for (const n of [1, 2, 3, 4, 5]) expect((await first.retr(n)).toString()).toContain(`body ${n - 1}`);
    await first.quit();

    const second = await session();
    expect([...(await second.uidl())!.values()]).toEqual(['GmailId1005', 'GmailId1006', 'GmailId1007', 'GmailId1008', 'GmailId1009']);
    // Only what was RETRieved counts: 6 and 7 of this window.
    await second.retr(1);
    await second.retr(2);
    await second.quit();

    const third = await session();
    expect([...(await third.uidl())!.values()]).toEqual(['GmailId1007', 'GmailId1008', 'GmailId1009', 'GmailId100a', 'GmailId100b']);
    await third.quit();
    expect(server.sessions()).toBe(3);
    expect([...server.downloaded].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('a session dropped without QUIT marks nothing downloaded; TOP never does', async () => {
    server = await startGmailPop3({ messages: Array.from({ length: 4 }, (_, i) => message(i)), window: 2 });
    const dropped = await session();
    await dropped.retr(1);
    await dropped.top(2, 0);
    dropped.close();
    const topOnly = await session();
    expect(await topOnly.stat()).toMatchObject({ count: 2 });
    await topOnly.top(1, 0);
    await topOnly.quit();
    const again = await session();
    expect([...(await again.uidl())!.values()]).toEqual(['GmailId1000', 'GmailId1001']);
    await again.quit();
    expect(server.downloaded.size).toBe(0);
  });

  it('recent: lists the recent messages whether downloaded or not', async () => {
    server = await startGmailPop3({ messages: Array.from({ length: 6 }, (_, i) => message(i)), window: 10, recent: 2 });
    const all = await session();
    for (let n = 1; n <= 6; n++) await all.retr(n);
    await all.quit();
    const none = await session();
    expect(await none.stat()).toMatchObject({ count: 0 });
    await none.quit();
    const recent = await session('recent:alice');
    expect([...(await recent.uidl())!.values()]).toEqual(['GmailId1004', 'GmailId1005']);
    await recent.quit();
  });
});

describe('a further session opened while the previous one ends', () => {
  it('connects at once and logs in only after the QUIT: it sees the next window', async () => {
    server = await startGmailPop3({ messages: Array.from({ length: 8 }, (_, i) => message(i)), window: 4 });
    const first = await session();
    for (const n of [1, 2, 3, 4]) await first.retr(n);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const opening = session('alice', { loginAfter: gate });
    // Connected and greeted, the second session does not log in while the first one is still on.
    await new Promise((r) => setTimeout(r, 300));
    expect(server.sessions()).toBe(1);
    await first.quit();
    open();
    const second = await opening;
    expect(server.sessions()).toBe(2);
    // It logged in after the QUIT, so the server had settled the first window.
    expect(await second.stat()).toMatchObject({ count: 4 });
    expect([...(await second.uidl())!.values()]).toEqual(['GmailId1004', 'GmailId1005', 'GmailId1006', 'GmailId1007']);
    await second.quit();
  });

  it('gives up the connection with the error of a failed QUIT, without logging in', async () => {
    server = await startGmailPop3({ messages: [message(0)], window: 4 });
    const failed = Promise.reject(new Error('QUIT failed'));
    failed.catch(() => undefined);
    await expect(session('alice', { loginAfter: failed })).rejects.toThrow('QUIT failed');
    expect(server.sessions()).toBe(0);
  });
});
