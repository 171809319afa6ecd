import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { VerifyReport } from '../../src/engine/verify.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus, type CorpusMessage } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { asServed, imapClient, readImapFolder, readPop3, sha256, type ImapMessage, type Pop3Message } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const FOLDER = ['Archive', 'Old ISP'];

describeIntegration('verify: proves every POP3 message is in the folder, changing nothing', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let corpus: CorpusMessage[];
  /** The second of two different messages sharing a Message-ID: migrate skips it, so it is delivered only in the last test. */
  let sharedTwin: CorpusMessage;
  let pop3: Pop3Message[];
  const labelOf = new Map<string, string>();
  const migrateState = mkdtempSync(join(tmpdir(), 'poplift-verify-migrate-'));
  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });
  const urls = () => [`pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`, `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`];
  const common = () => ['--folder', FOLDER.join('/'), '--ca-file', dovecot.certPath];
  const migrate = (stateDir = migrateState) => runCli(['migrate', ...urls(), ...common(), '--state-dir', stateDir], env());
  const verify = (...extra: string[]) => runCli(['verify', ...urls(), ...common(), ...extra], env());
  const verifyJson = async (...extra: string[]): Promise<{ code: number; report: VerifyReport; stderr: string }> => {
    const r = await verify('--json', ...extra);
    expect(r.stdout.trim().split('\n'), r.stderr).toHaveLength(1);
    return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
  };
  const uidlOf = (label: string): string => pop3.find((m) => labelOf.get(sha256(m.source)) === label)!.uidl;
  const imapCopyOf = (folder: ImapMessage[], label: string): ImapMessage => {
    const source = pop3.find((m) => m.uidl === uidlOf(label))!.source;
    return folder.find((m) => sha256(m.source) === sha256(source))!;
  };
  /** Runs `act` on bob's folder, opened read-write. */
  const onFolder = async (act: (client: Awaited<ReturnType<typeof imapClient>>, path: string) => Promise<void>) => {
    const client = await imapClient(dovecot, bob);
    try {
      const mailbox = await client.mailboxOpen(FOLDER);
      await act(client, mailbox.path);
    } finally {
      await client.logout();
    }
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    const all = makeCorpus(60, { bigAttachmentBytes: 200_000 });
    sharedTwin = all.find((m) => m.label === 'shared Message-ID (skipped)')!;
    corpus = all.filter((m) => m !== sharedTwin);
    for (const m of corpus) {
      dovecot.deliver(alice, m.raw);
      labelOf.set(sha256(asServed(m.raw)), m.label);
    }
    const r = await migrate();
    expect(r.code, r.stderr).toBe(0);
    pop3 = await readPop3(dovecot, alice);
    expect(pop3).toHaveLength(corpus.length);
  }, 120_000);

  afterAll(async () => {
    await dovecot?.stop();
  });

  /** Dovecot stores CR CR LF as CR LF: those copies are the messages by the copy rule, stored with the server's changes. */
  const crFolded = () => [
    ['server-changed', uidlOf('bare CR'), ['lineEnds']],
    ['server-changed', uidlOf('bare CR, no Message-ID'), ['lineEnds']],
  ];

  it('exits 0 after a migration, reading only headers with TOP, and names the copies the server changed', async () => {
    const { code, report, stderr } = await verifyJson();
    expect(code, stderr).toBe(0);
    expect(report).toMatchObject({
      deep: false,
      read: 'TOP',
      folderExists: true,
      found: corpus.length,
      // The two exact duplicates share one copy.
      folderMessages: corpus.length - 1,
      present: corpus.length,
      missing: 0,
      altered: 0,
      serverChanged: 2,
      serverChanges: { lineEnds: 2 },
      problems: [],
    });
    // The two copies of another size were read and judged by the copy rule, not rejected on their size.
    expect(report.notes.map((n) => [n.note, n.uidl, n.changes])).toEqual(crFolded());
    const text = await verify();
    expect(text.code).toBe(0);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(
      /^verify pop3s:\/\/alice@127\.0\.0\.1:\d+ -> imaps:\/\/bob@127\.0\.0\.1:\d+ folder "Archive\/Old ISP": 59 POP3 messages, 58 in the folder, 59 found by key and size, POP3 read with TOP; all there; stored with the server's changes: 2 \(line ends rewritten\); [\d.]+ s\n$/,
    );
  });

  it('--deep compares every byte: CR runs the server folded are named, the NUL message is fetched with BINARY', async () => {
    const { code, report, stderr } = await verifyJson('--deep');
    expect(code, stderr).toBe(0);
    expect(report).toMatchObject({ deep: true, read: 'RETR', present: corpus.length, problems: [], serverChanged: 2 });
    // Every other message, the one with NUL bytes included, is identical.
    expect(report.notes.map((n) => [n.note, n.uidl, n.changes])).toEqual(crFolded());
  });

  it('--deep over a slow IMAP link: the folder is read after the index, however long deselecting it takes', async () => {
    // 300 ms round trips on the IMAP side only, so the POP3 reading done between indexing the folder and
    // fetching its messages is over long before the server has answered the CLOSE sent after the index.
    const proxy = await FaultProxy.start({ targetPort: dovecot.ports.imaps, delayMs: 150 });
    try {
      const slowUrls = [`pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`, `imaps://bob@127.0.0.1:${proxy.port}`];
      const r = await runCli(['verify', ...slowUrls, ...common(), '--deep', '--json'], env());
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout) as VerifyReport).toMatchObject({ deep: true, read: 'RETR', present: corpus.length, problems: [] });
    } finally {
      await proxy.stop();
    }
  });

  /**
   * Reads POP3 through a link throttled so that reading takes about `seconds`, while the IMAP server (a proxy in
   * front of it) drops any connection idle for 1.5 s, as servers with short inactivity timeouts do.
   */
  const verifyWhileImapTimesOut = async (bytesRead: number, seconds: number, ...extra: string[]) => {
    const slowPop3 = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, bandwidthBytesPerSec: Math.ceil(bytesRead / seconds) });
    const impatientImap = await FaultProxy.start({ targetPort: dovecot.ports.imaps, idleCloseMs: 1_500 });
    try {
      const proxied = [`pop3s://alice@127.0.0.1:${slowPop3.port}`, `imaps://bob@127.0.0.1:${impatientImap.port}`];
      const started = performance.now();
      const r = await runCli(['verify', ...proxied, ...common(), '--json', ...extra], env());
      return { ...r, seconds: (performance.now() - started) / 1000, idleClosed: impatientImap.idleClosed };
    } finally {
      await Promise.all([slowPop3.stop(), impatientImap.stop()]);
    }
  };

  it('--deep finishes with the right verdict when the IMAP server drops the idle connection while POP3 is read', async () => {
    const bytes = pop3.reduce((n, m) => n + m.source.length, 0);
    const r = await verifyWhileImapTimesOut(bytes, 5, '--deep');
    // The connection that indexed the folder was cut while POP3 was read.
    expect(r.idleClosed, r.stderr).toBeGreaterThanOrEqual(1);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as VerifyReport;
    expect(report).toMatchObject({ deep: true, read: 'RETR', present: corpus.length, problems: [] });
    expect(report.notes.map((n) => [n.note, n.uidl, n.changes])).toEqual(crFolded());
  }, 120_000);

  it('--deep fetches the rest over a new connection when the IMAP server closes it in the middle of the byte comparison', async () => {
    const proxy = await FaultProxy.start({ targetPort: dovecot.ports.imaps });
    // Everything before the FETCH of whole messages (TLS handshake, login, the header index) is far smaller than half
    // the folder: cut there, some copies have arrived and one is cut short. A cut before would fail the run.
    const half = Math.floor(pop3.reduce((n, m) => n + m.source.length, 0) / 2);
    proxy.addRule({ direction: 'down', after: '', offset: half, action: 'close' });
    try {
      const proxied = [`pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`, `imaps://bob@127.0.0.1:${proxy.port}`];
      const r = await runCli(['verify', ...proxied, ...common(), '--deep', '--json'], env());
      expect(proxy.fired, r.stderr).toBe(1);
      expect(proxy.connections).toBe(2);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout) as VerifyReport).toMatchObject({ deep: true, present: corpus.length, problems: [] });
    } finally {
      await proxy.stop();
    }
  });

  it('plain verify finishes with the right verdict when the IMAP server drops the idle connection while POP3 is read', async () => {
    const headerBytes = pop3.reduce((n, m) => n + m.source.indexOf('\r\n\r\n') + 4, 0);
    const r = await verifyWhileImapTimesOut(headerBytes, 5);
    expect(r.idleClosed, r.stderr).toBeGreaterThanOrEqual(1);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout) as VerifyReport).toMatchObject({ deep: false, read: 'TOP', present: corpus.length, problems: [] });
  }, 120_000);

  it('changes nothing: no state, no flags, no messages, no folders', async () => {
    const stateDir = join(tmpdir(), `poplift-verify-state-${process.pid}-${Date.now()}`);
    // migrate's QUIT left alice's messages \Seen; clear that, so a RETR that marked them read would show.
    const source = await imapClient(dovecot, alice);
    try {
      await source.mailboxOpen('INBOX');
      await source.messageFlagsRemove('1:*', ['\\Seen']);
    } finally {
      await source.logout();
    }
    const flagsOf = async (user: DovecotUser, folder: string | string[]) => {
      const client = await imapClient(dovecot, user);
      try {
        const status = await client.status(folder, { messages: true, uidNext: true, uidValidity: true });
        const folders = (await client.list()).map((f) => f.path).sort();
        await client.mailboxOpen(folder, { readOnly: true });
        const flags: string[] = [];
        for await (const m of client.fetch('1:*', { uid: true, flags: true }))
          flags.push(`${m.uid} ${[...(m.flags ?? [])].sort().join(' ')}`);
        return { status, folders, flags };
      } finally {
        await client.logout();
      }
    };
    const before = { source: await flagsOf(alice, 'INBOX'), target: await flagsOf(bob, FOLDER) };
    expect(before.source.flags.every((f) => !f.includes('\\Seen'))).toBe(true);

    for (const extra of [[], ['--deep']]) {
      const r = await verify('--state-dir', stateDir, ...extra);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(existsSync(stateDir)).toBe(false);
    expect({ source: await flagsOf(alice, 'INBOX'), target: await flagsOf(bob, FOLDER) }).toEqual(before);
    expect(dovecot.countInbox(alice)).toBe(corpus.length);
  });

  it('exits 1 and names exactly the UIDL of a message deleted from the folder; a new migrate puts it back', async () => {
    const victim = 'ordinary 40';
    const copy = imapCopyOf(await readImapFolder(dovecot, bob, FOLDER), victim);
    await onFolder((client) => client.messageDelete(String(copy.uid), { uid: true }).then(() => undefined));
    expect(await readImapFolder(dovecot, bob, FOLDER)).toHaveLength(corpus.length - 2);

    const { code, report } = await verifyJson();
    expect(code).toBe(1);
    expect(report.missing).toBe(1);
    expect(report.present).toBe(corpus.length - 1);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      problem: 'missing',
      uidl: uidlOf(victim),
      subject: 'message 40',
      date: 'Mon, 30 Jun 2003 09:00:00 +0000',
      key: 'mid:m40.corpus@example.org',
    });

    const text = await verify('--deep');
    expect(text.code).toBe(1);
    const lines = text.stderr.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('MISSING'))).toEqual([
      `MISSING  UIDL ${uidlOf(victim)}  Mon, 30 Jun 2003 09:00:00 +0000  "message 40"  No message with its key (mid:m40.corpus@example.org) is in the folder.`,
    ]);
    expect(lines.at(-1)).toMatch(/; 1 missing, 0 altered; stored with the server's changes: 2 \(line ends rewritten\); [\d.]+ s$/);

    // The journal says it was appended; without the journal the destination index decides, and it goes back.
    const again = await migrate(mkdtempSync(join(tmpdir(), 'poplift-verify-remigrate-')));
    expect(again.code, again.stderr).toBe(0);
    expect((await verifyJson()).code).toBe(0);
  });

  it('--deep catches a copy altered on the destination that plain verify passes', async () => {
    const victim = 'ordinary 45';
    const copy = imapCopyOf(await readImapFolder(dovecot, bob, FOLDER), victim);
    const altered = Buffer.from(copy.source);
    // One byte of the body, same size and same Message-ID.
    const at = altered.lastIndexOf('z');
    expect(at).toBeGreaterThan(altered.indexOf('\r\n\r\n'));
    altered[at] = 'y'.charCodeAt(0);
    await onFolder(async (client, path) => {
      await client.messageDelete(String(copy.uid), { uid: true });
      await client.append(path, altered, [...copy.flags], new Date(copy.internalDate));
    });

    const plain = await verifyJson();
    expect(plain.code).toBe(0);
    expect(plain.report.problems).toEqual([]);

    const deep = await verifyJson('--deep');
    expect(deep.code).toBe(1);
    expect(deep.report.altered).toBe(1);
    expect(deep.report.missing).toBe(0);
    expect(deep.report.problems.map((p) => [p.problem, p.uidl, p.subject])).toEqual([['altered', uidlOf(victim), 'message 45']]);
    expect(deep.report.problems[0]!.detail).toMatch(/^Same key and size as UID \d+, but different bytes, even once/);
  });

  it('--deep notes, not fails, a message with NUL bytes whose base64 part FETCH BINARY would return decoded', async () => {
    const raw = Buffer.from(
      'From: a@example.org\r\nSubject: nul and base64\r\nMessage-ID: <nul-b64@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
        '--b\r\nContent-Type: text/plain\r\n\r\nnul\0here\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n',
      'latin1',
    );
    dovecot.deliver(alice, raw);
    const r = await migrate();
    expect(r.code, r.stderr).toBe(0);
    const uidl = (await readPop3(dovecot, alice)).find((m) => m.source.equals(raw))!.uidl;

    expect((await verifyJson()).code).toBe(0);
    const deep = await verifyJson('--deep');
    expect(deep.report.problems.map((p) => p.uidl)).not.toContain(uidl);
    expect(deep.report.notes.filter((n) => n.note === 'not-compared').map((n) => n.uidl)).toEqual([uidl]);
  });

  it('proves two messages that share a Message-ID by their bytes, and reports the one whose copy is gone', async () => {
    dovecot.deliver(alice, sharedTwin.raw);
    const r = await migrate();
    expect(r.code, r.stderr).toBe(0);
    const after = await readPop3(dovecot, alice);
    const twin = after.find((m) => m.source.equals(asServed(sharedTwin.raw)))!;
    // A Message-ID is a claim: migrate uploaded the second message under it.
    const copy = (await readImapFolder(dovecot, bob, FOLDER)).find((m) => m.source.equals(twin.source));
    expect(copy).toBeDefined();
    expect((await verifyJson()).code).toBe(0);

    await onFolder(async (client) => {
      await client.messageDelete(String(copy!.uid), { uid: true });
    });
    const { code, report } = await verifyJson();
    expect(code).toBe(1);
    expect(report.problems.map((p) => [p.problem, p.uidl, p.key])).toEqual([['size-differs', twin.uidl, 'mid:shared@example.org']]);
    expect(report.problems[0]!.copies).toHaveLength(1);
  });

  it('exits 3 on a wrong password and 2 on a folder that names nothing', async () => {
    const wrong = await runCli(['verify', ...urls(), ...common()], { ...env(), POPLIFT_IMAP_PASSWORD: 'wrong' });
    expect(wrong.code).toBe(3);
    expect((await runCli(['verify', ...urls(), '--folder', '/', '--ca-file', dovecot.certPath], env())).code).toBe(2);
  });

  it('passes copies stored with changes servers are known to make, at another size, plain and --deep alike; fails one that is another message', async () => {
    const folder = await readImapFolder(dovecot, bob, FOLDER);
    /** Replaces the copy of `label` with `change` of it. */
    const replace = async (label: string, change: (copy: string) => string) => {
      // Dovecot folded the CR run of 'bare CR': its copy is not byte-equal.
      const copy = label === 'bare CR' ? folder.find((m) => m.source.includes('one\rtwo'))! : imapCopyOf(folder, label);
      const changed = Buffer.from(change(copy.source.toString('latin1')), 'latin1');
      expect(changed.length).not.toBe(copy.source.length);
      await onFolder(async (client, path) => {
        await client.messageDelete(String(copy.uid), { uid: true });
        await client.append(path, changed, [...copy.flags], new Date(copy.internalDate));
      });
    };
    // Courier deletes a CR not followed by LF; GNU Mailutils adds its own header fields; the third is another message.
    await replace('bare CR', (s) => s.replace(/\r(?!\n)/g, ''));
    await replace('ordinary 41', (s) => s.replace('\r\n\r\n', '\r\nStatus: RO\r\nX-UID: 41\r\nX-IMAPbase: 1 2\r\n\r\n'));
    await replace('ordinary 42', (s) => `${s}one more line\r\n`);

    for (const deep of [[], ['--deep']]) {
      const { code, report } = await verifyJson(...deep);
      expect(code).toBe(1);
      const mine = ['bare CR', 'ordinary 41', 'ordinary 42'].map(uidlOf);
      // Earlier tests may have left problems of their own (a shared Message-ID's twin, a copy altered at the same size).
      expect(report.problems.filter((p) => mine.includes(p.uidl)).map((p) => [p.problem, p.uidl])).toEqual([
        ['size-differs', uidlOf('ordinary 42')],
      ]);
      const changed = report.notes.filter((n) => n.note === 'server-changed').map((n) => [n.uidl, n.changes]);
      // Its CR run was folded by Dovecot; its bare CR deleted as Courier would.
      expect(changed).toContainEqual([uidlOf('bare CR'), ['lineEnds', 'bareCrDeleted']]);
      expect(changed).toContainEqual([uidlOf('ordinary 41'), ['serverFields']]);
      expect(report.serverChanges).toMatchObject({ lineEnds: 2, bareCrDeleted: 1, serverFields: 1 });
    }
    const lines = (await verify()).stderr.trimEnd().split('\n');
    expect(lines.find((l) => l.includes(`UIDL ${uidlOf('ordinary 42')} `))).toMatch(
      /^SIZE DIFFERS {2}.*no such copy is the message, even once the changes servers make on storage are undone/,
    );
    expect(lines.at(-1)).toMatch(
      /; \d+ missing; stored with the server's changes: 3 \(line ends rewritten: 2, bare CR deleted: 1, X-IMAPbase\/X-UID\/X-UIDL\/Status headers added or rewritten: 1\); [\d.]+ s$/,
    );
  });
});
