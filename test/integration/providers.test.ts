import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { ImapTarget } from '../../src/imap/imap-target.js';
import { classifyResponseLine } from '../../src/imap/server-responses.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { startGmailPop3, type GmailPop3 } from '../helpers/gmail-pop3.js';
import { imapClient } from '../helpers/mailboxes.js';
import { PROVIDER_ANSWERS, ProviderImapProxy } from '../helpers/provider-imap-proxy.js';
import { dovecotAs, PERSONALITIES, type Personality } from '../helpers/providers.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number): Buffer {
  return Buffer.from(
    `From: a@example.org\r\nTo: b@example.org\r\nSubject: number ${i}\r\nMessage-ID: <p${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\nbody ${i}\r\n`,
  );
}

/** A bare IMAP client: sends lines and literals as given, collects what comes back. */
class RawImap {
  received = '';
  closed = false;
  /** Where the answer to the last command starts in `received`. */
  private mark = 0;
  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => (this.received += d.toString('latin1')));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawImap> {
    const socket = connect(port, '127.0.0.1');
    const raw = new RawImap(socket);
    await raw.waitFor(/^\* OK .*\r\n/m);
    return raw;
  }

  async waitFor(pattern: RegExp, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = pattern.exec(this.received.slice(this.mark));
      if (m) return m[0];
      if (this.closed || Date.now() > deadline) throw new Error(`no ${pattern} in ${JSON.stringify(this.received)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends a tagged command and returns its tagged reply line. */
  async command(tag: string, line: string): Promise<string> {
    this.mark = this.received.length;
    this.socket.write(`${tag} ${line}\r\n`);
    return this.waitFor(new RegExp(`^${tag} .*\\r\\n`, 'm'));
  }

  /** APPEND with a synchronizing literal: waits for "+" as a client must. */
  async append(tag: string, folder: string, raw: Buffer): Promise<string> {
    this.mark = this.received.length;
    this.socket.write(`${tag} APPEND ${folder} {${raw.length}}\r\n`);
    await this.waitFor(/^\+ .*\r\n/m);
    this.mark = this.received.length;
    this.socket.write(Buffer.concat([raw, Buffer.from('\r\n')]));
    return this.waitFor(new RegExp(`^(${tag}|\\*) (OK|NO|BAD|BYE) .*\\r\\n`, 'm'));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The full bytes of every message in a folder (BODY[] only: the personalities announce no BINARY). */
async function folderSources(dovecot: Dovecot, user: DovecotUser, folder: string): Promise<string[]> {
  const client = await imapClient(dovecot, user);
  try {
    const mailbox = await client.mailboxOpen(folder, { readOnly: true });
    const out: string[] = [];
    if (mailbox.exists > 0) for await (const m of client.fetch('1:*', { source: true })) out.push(m.source!.toString('latin1'));
    return out;
  } finally {
    await client.logout();
  }
}

describeIntegration('hosted-provider personalities on Dovecot', () => {
  const dovecots = new Map<Personality, Dovecot>();
  const users = new Map<Personality, DovecotUser>();

  beforeAll(async () => {
    for (const name of ['gmail', 'm365', 'yahoo', 'zoho'] as const) {
      const dovecot = await startDovecot(dovecotAs(name, { tls: false }));
      dovecots.set(name, dovecot);
      users.set(name, dovecot.addUser('bob'));
    }
  });
  afterAll(async () => {
    for (const d of dovecots.values()) await d.stop();
  });

  const connectTarget = (name: Personality, port?: number, profile?: 'zoho') =>
    ImapTarget.connect({
      host: '127.0.0.1',
      port: port ?? dovecots.get(name)!.ports.imap,
      tls: 'starttls',
      allowPlaintext: true,
      user: 'bob',
      password: users.get(name)!.password,
      tlsOptions: {},
      timeoutMs: 10_000,
      ...(profile === undefined ? {} : { profile }),
    });

  it.each([
    ['gmail', 'greeting'],
    ['m365', 'greeting'],
    ['yahoo', 'capability XYMHIGHESTMODSEQ'],
  ] as const)('%s: announces the provider and poplift recognises it (%s)', async (name, reason) => {
    const raw = await RawImap.open(dovecots.get(name)!.ports.imap);
    expect(raw.received).toContain(PERSONALITIES[name].greeting);
    expect(await raw.command('a1', `LOGIN bob ${users.get(name)!.password}`)).toMatch(/^a1 OK /);
    await raw.command('a2', 'CAPABILITY');
    expect(raw.received).toContain(`* CAPABILITY ${PERSONALITIES[name].capability}\r\n`);
    expect(raw.received).not.toContain('MULTIAPPEND');
    raw.close();
    const target = await connectTarget(name);
    try {
      expect(target.profile.profile.name).toBe(name);
      expect(target.profile.reason).toBe(reason);
    } finally {
      await target.close();
    }
  });

  it('zoho: known by its host name only, so --profile sets it; Dovecot enforces its 3 connections with an answer poplift classifies', async () => {
    const target = await connectTarget('zoho', undefined, 'zoho');
    expect(target.profile).toMatchObject({ profile: { name: 'zoho', appendLimit: 20_971_520 }, reason: 'set by --profile' });
    const clients: RawImap[] = [];
    try {
      // The target holds one connection; two more fill the cap.
      for (let i = 0; i < 2; i++) {
        const raw = await RawImap.open(dovecots.get('zoho')!.ports.imap);
        clients.push(raw);
        expect(await raw.command('a1', `LOGIN bob ${users.get('zoho')!.password}`)).toMatch(/^a1 OK /);
      }
      const extra = await RawImap.open(dovecots.get('zoho')!.ports.imap);
      clients.push(extra);
      const refused = await extra.command('a1', `LOGIN bob ${users.get('zoho')!.password}`);
      expect(refused).toMatch(/^a1 NO \[LIMIT\] Maximum number of connections/);
      expect(classifyResponseLine(refused)).toMatchObject({ kind: 'too-many-connections' });
    } finally {
      for (const c of clients) c.close();
      await target.close();
    }
  });

  it('m365: \\Flagged is set with STORE after the upload (addFlags), by the UIDs APPENDUID gave', async () => {
    const target = await connectTarget('m365');
    try {
      expect(target.profile.profile.flaggedNeedsStore).toBe(true);
      const folder = await target.openFolder(['Flagged later'], true);
      const outcomes = await target.append(
        folder,
        [
          { content: message(11), flags: ['\\Seen'], date: undefined },
          { content: message(12), flags: [], date: undefined },
        ],
        false,
      );
      const uids = outcomes.map((o) => (o.ok ? o.uid : undefined));
      expect(uids.every((u) => typeof u === 'number')).toBe(true);
      await target.addFlags(folder, [uids[0]!], ['\\Flagged']);
      // The folder is left deselected: STATUS sees what other connections upload.
      expect(await target.status(folder)).toMatchObject({ uidNext: uids[1]! + 1 });
    } finally {
      await target.close();
    }
    const client = await imapClient(dovecots.get('m365')!, users.get('m365')!);
    try {
      await client.mailboxOpen('Flagged later', { readOnly: true });
      const flags = new Map<number, string[]>();
      for await (const m of client.fetch('1:*', { uid: true, flags: true })) flags.set(m.uid, [...(m.flags ?? [])].sort());
      expect([...flags.values()]).toEqual([['\\Flagged', '\\Seen'], []]);
    } finally {
      await client.logout();
    }
  });

  describe("a proxy that answers in the providers' words", () => {
    let proxy: ProviderImapProxy;
    beforeAll(async () => {
      proxy = await ProviderImapProxy.start({ targetPort: dovecots.get('m365')!.ports.imap, maxConnections: 2 });
    });
    afterAll(async () => {
      await proxy.stop();
    });

    it('Microsoft 365 throttling refuses an APPEND without storing it; the next one goes through', async () => {
      proxy.inject('APPEND', PROVIDER_ANSWERS.m365Throttled(299_609));
      const raw = await RawImap.open(proxy.port);
      try {
        await raw.command('a1', `LOGIN bob ${users.get('m365')!.password}`);
        const refused = await raw.append('a2', 'INBOX', message(1));
        expect(refused).toBe('a2 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds\r\n');
        expect(classifyResponseLine(refused)).toEqual({
          kind: 'throttle',
          waitMs: 299_609,
          refused: true,
          text: 'Request is throttled. Suggested Backoff Time: 299609 milliseconds',
        });
        expect(await raw.append('a3', 'INBOX', message(2))).toMatch(/^a3 OK /);
      } finally {
        raw.close();
      }
      const stored = await folderSources(dovecots.get('m365')!, users.get('m365')!, 'INBOX');
      expect(stored).toEqual([message(2).toString('latin1')]);
      expect(proxy.injected).toEqual(['APPEND: NO Request is throttled. Suggested Backoff Time: 299609 milliseconds']);
    });

    it("Gmail's daily quota closes the connection with BYE [OVERQUOTA]", async () => {
      proxy.inject('APPEND', PROVIDER_ANSWERS.gmailOverQuota());
      const raw = await RawImap.open(proxy.port);
      try {
        await raw.command('a1', `LOGIN bob ${users.get('m365')!.password}`);
        const bye = await raw.append('a2', 'INBOX', message(3));
        expect(bye).toBe('* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.\r\n');
        expect(classifyResponseLine(bye)).toMatchObject({ kind: 'daily-quota' });
        await new Promise((r) => setTimeout(r, 100));
        expect(raw.closed).toBe(true);
      } finally {
        raw.close();
      }
      const stored = await folderSources(dovecots.get('m365')!, users.get('m365')!, 'INBOX');
      expect(stored.some((m) => m.includes('number 3'))).toBe(false);
    });

    it('lets chosen commands through before answering (a quota that bites in mid-run)', async () => {
      proxy.inject('APPEND', PROVIDER_ANSWERS.m365ThrottledBad(1234), 1, 2);
      const raw = await RawImap.open(proxy.port);
      try {
        await raw.command('a1', `LOGIN bob ${users.get('m365')!.password}`);
        expect(await raw.append('a2', 'INBOX', message(21))).toMatch(/^a2 OK /);
        expect(await raw.append('a3', 'INBOX', message(22))).toMatch(/^a3 OK /);
        const refused = await raw.append('a4', 'INBOX', message(23));
        expect(refused).toBe('a4 BAD Request is throttled. Suggested Backoff Time: 1234 milliseconds\r\n');
        expect(classifyResponseLine(refused)).toMatchObject({ kind: 'throttle', waitMs: 1234, refused: true });
        expect(await raw.append('a5', 'INBOX', message(24))).toMatch(/^a5 OK /);
      } finally {
        raw.close();
      }
    });

    it('poplift through the proxy: a short Microsoft 365 throttle is waited out and every message lands once', async () => {
      const m365 = dovecots.get('m365')!;
      const alice = m365.addUser('alice');
      for (let i = 0; i < 10; i++) m365.deliver(alice, message(300 + i));
      proxy.inject('APPEND', PROVIDER_ANSWERS.m365Throttled(300), 1, 3);
      const r = await runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${m365.ports.pop3}`,
          `imap://bob@127.0.0.1:${proxy.port}`,
          '--folder',
          'Throttled',
          '--json',
          '--no-multiappend',
        ],
        { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: users.get('m365')!.password },
      );
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout) as MigrationSummary;
      expect([summary.appended, summary.failed]).toEqual([10, 0]);
      // Upload connections beyond the proxy's cap are refused as one too many, and poplift goes on with fewer.
      expect(proxy.injected.filter((a) => a.startsWith('APPEND:')).at(-1)).toBe(
        'APPEND: NO Request is throttled. Suggested Backoff Time: 300 milliseconds',
      );
      const landed = await folderSources(m365, users.get('m365')!, 'Throttled');
      expect(landed.sort()).toEqual(Array.from({ length: 10 }, (_, i) => message(300 + i).toString('latin1')).sort());
    });

    it('refuses a login beyond the connection cap, and counts connections', async () => {
      const open: RawImap[] = [];
      await new Promise((r) => setTimeout(r, 100));
      const before = [proxy.loggedIn, proxy.refusedLogins];
      try {
        for (const tag of ['a', 'b']) {
          const raw = await RawImap.open(proxy.port);
          open.push(raw);
          expect(await raw.command(`${tag}1`, `LOGIN bob ${users.get('m365')!.password}`)).toMatch(/ OK /);
        }
        const third = await RawImap.open(proxy.port);
        open.push(third);
        const refused = await third.command('c1', `LOGIN bob ${users.get('m365')!.password}`);
        expect(refused).toBe('c1 NO [ALERT] Too many simultaneous connections. (Failure)\r\n');
        expect(classifyResponseLine(refused)).toMatchObject({ kind: 'too-many-connections' });
        expect([proxy.loggedIn - before[0]!, proxy.refusedLogins - before[1]!]).toEqual([2, 1]);
      } finally {
        for (const c of open) c.close();
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(proxy.loggedIn).toBe(0);
      expect(proxy.peakLoggedIn).toBe(2);
    });
  });

  // Today's behaviour, which issue 14 asks to change: Gmail's daily-quota BYE is taken for a dropped
  // connection, retried (--retries) and the run exits 1. When the engine recognises it
  // (classifyAnswer: daily-quota), this test must change to: exit 6 at the first BYE, no retry, a
  // summary saying "daily quota reached: ... run again", and a next run that finishes the mailbox.
  it("today Gmail's BYE [OVERQUOTA] is retried as a dropped connection and the run exits 1", async () => {
    const gmail = dovecots.get('gmail')!;
    const alice = gmail.addUser('alice');
    for (let i = 0; i < 10; i++) gmail.deliver(alice, message(500 + i));
    const proxy = await ProviderImapProxy.start({ targetPort: gmail.ports.imap });
    try {
      proxy.inject('APPEND', PROVIDER_ANSWERS.gmailOverQuota(), 100, 3);
      const r = await runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${gmail.ports.pop3}`,
          `imap://bob@127.0.0.1:${proxy.port}`,
          '--folder',
          'Quota',
          '--retries',
          '1',
          '--no-multiappend',
        ],
        { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: users.get('gmail')!.password },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('closed the upload connection ([OVERQUOTA] Account exceeded command or bandwidth limits.)');
      expect(r.stderr).toContain('Reconnecting');
      expect(proxy.injected).toHaveLength(2);
    } finally {
      await proxy.stop();
    }
  });

  describe('folder names the provider refuses are reported by --dry-run, before anything is created', () => {
    let source: GmailPop3;
    beforeAll(async () => {
      source = await startGmailPop3({ messages: [message(1)], password: 'pop-secret' });
    });
    afterAll(async () => {
      await source.close();
    });

    const dryRun = (name: Personality, folder: string, ...extra: string[]) =>
      runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${source.port}`,
          `imap://bob@127.0.0.1:${dovecots.get(name)!.ports.imap}`,
          '--folder',
          folder,
          '--dry-run',
          ...extra,
        ],
        { POPLIFT_POP3_PASSWORD: 'pop-secret', POPLIFT_IMAP_PASSWORD: users.get(name)!.password },
      );

    it.each([
      [
        'gmail',
        'Archive/ Old ISP',
        "(Gmail): the folder 'Archive/ Old ISP' cannot be created: ' Old ISP' starts or ends with a space, which Gmail refuses in label names. Choose another --folder.",
      ],
      ['gmail', 'Old  ISP', "' two spaces in a row"],
      ['gmail', 'Old^ISP', "contains '^'"],
      ['m365', 'Files', "(Microsoft 365): the folder 'Files' cannot be created: 'Files' is a name Microsoft 365 reserves for its own use."],
    ] as const)('%s: %j', async (name, folder, said) => {
      const r = await dryRun(name, folder);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(said.replace("' two", 'two'));
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });

    it('the same names pass on a server without those rules; --debug names the provider found', async () => {
      const before = source.downloaded.size;
      const r = await dryRun('yahoo', 'Old  ISP', '--debug');
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('would be created');
      expect(r.stderr).toContain('IMAP provider profile: Yahoo (capability XYMHIGHESTMODSEQ)\n');
      // A dry run reads headers with TOP, which a Gmail-style source does not count as downloading
      // (RETR would: the message would never be listed again, or with the account's "delete Gmail's
      // copy" setting, be deleted).
      expect(source.downloaded.size).toBe(before);
    });

    it('a real run stops the same way before creating anything', async () => {
      const before = source.downloaded.size;
      const r = await runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${source.port}`,
          `imap://bob@127.0.0.1:${dovecots.get('gmail')!.ports.imap}`,
          '--folder',
          'Old^ISP',
        ],
        { POPLIFT_POP3_PASSWORD: 'pop-secret', POPLIFT_IMAP_PASSWORD: users.get('gmail')!.password },
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("'Old^ISP' contains '^', which Gmail refuses in label names");
      const client = await imapClient(dovecots.get('gmail')!, users.get('gmail')!);
      try {
        expect((await client.list()).map((m) => m.path)).not.toContain('Old^ISP');
      } finally {
        await client.logout();
      }
      // The folder is checked before any RETR: a Gmail-style source still counts nothing as downloaded.
      expect(source.downloaded.size).toBe(before);
    });

    it("a '.' inside a level on a '.'-separator server is reported, not 'would be created'", async () => {
      const dotted = await startDovecot({ tls: false });
      try {
        const bob = dotted.addUser('bob');
        const r = await runCli(
          [
            'migrate',
            `pop3://alice@127.0.0.1:${source.port}`,
            `imap://bob@127.0.0.1:${dotted.ports.imap}`,
            '--folder',
            'Archive.Old ISP',
            '--dry-run',
          ],
          { POPLIFT_POP3_PASSWORD: 'pop-secret', POPLIFT_IMAP_PASSWORD: bob.password },
        );
        expect(r.code).toBe(2);
        expect(r.stderr).not.toContain('would be created');
        expect(r.stderr).toContain(
          "the folder 'Archive.Old ISP' cannot be created: 'Archive.Old ISP' contains '.', which this server uses to separate folder levels (poplift uses '/' for levels: write 'A/B' for a folder B inside A).",
        );
        const client = await imapClient(dotted, bob);
        try {
          expect((await client.list()).map((m) => m.path)).toEqual(['INBOX']);
        } finally {
          await client.logout();
        }
      } finally {
        await dotted.stop();
      }
    });
  });

  describe('a Gmail-style POP3 source: 1,000 messages, a window of 250', () => {
    let source: GmailPop3;
    const run = () =>
      runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${source.port}`,
          `imap://bob@127.0.0.1:${dovecots.get('gmail')!.ports.imap}`,
          '--folder',
          'Window',
          '--json',
        ],
        { POPLIFT_POP3_PASSWORD: 'pop-secret', POPLIFT_IMAP_PASSWORD: users.get('gmail')!.password },
      );

    beforeAll(async () => {
      source = await startGmailPop3({
        messages: Array.from({ length: 1000 }, (_, i) => message(3000 + i)),
        window: 250,
        password: 'pop-secret',
      });
    });
    afterAll(async () => {
      await source.close();
    });

    it('one run opens a session per window and moves all of them; a second run moves none', async () => {
      const first = await run();
      expect(first.code, first.stderr).toBe(0);
      const summary = JSON.parse(first.stdout) as MigrationSummary;
      expect([summary.found, summary.appended, summary.failed]).toEqual([1000, 1000, 0]);
      // Four windows, and a fifth session that listed nothing new.
      expect(summary.sessions).toBe(5);
      expect(source.downloaded.size).toBe(1000);
      expect(await folderSources(dovecots.get('gmail')!, users.get('gmail')!, 'Window')).toHaveLength(1000);
      const second = await run();
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ appended: 0 });
    });
  });
});
