/**
 * WildDuck's IMAP core as the destination (issue 26, issue 20 item 3).
 * WildDuck stores a message as a MIME tree and rebuilds BODY[] from it:
 * text after the closing boundary comes back before the first part. Such a
 * copy is not the message by the copy rule: it is stored changed, not
 * proven. It must stay on POP3, be named by verify, and never be uploaded
 * again, also by a run without the journal; and what --json says was
 * appended is what the folder received.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copyDigests, judgeCopy } from '../../src/message/copy-rule.js';
import { runCli } from '../helpers/cli.js';
import { makeMimeTreeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readPop3 } from '../helpers/mailboxes.js';
import type { MailUser } from '../helpers/mail-server.js';
import { describeIntegration } from '../helpers/suite.js';
import { startWildDuckImap, type WildDuckImap } from '../helpers/wildduck-imap.js';

const COUNT = 300;
const FOLDER = 'Migrated';

interface Summary {
  exitCode: number;
  found: number;
  appended: number;
  duplicates: number;
  failed: number;
  deleted: number;
  storedChanged?: number;
}

/** The corpus's identity of a message (some have no Message-ID). */
const subjectOf = (raw: Buffer) => /^Subject: (tree \d+)\r?$/m.exec(raw.toString('latin1'))?.[1];

describeIntegration('WildDuck IMAP (imap-core, MIME-tree store) as the destination', () => {
  let duck: WildDuckImap;
  let dovecot: Dovecot;

  beforeAll(async () => {
    [duck, dovecot] = await Promise.all([startWildDuckImap(), startDovecot()]);
  });
  afterAll(async () => {
    await Promise.all([duck?.stop(), dovecot?.stop()]);
  });

  const env = (src: DovecotUser, dest: MailUser) => ({ POPLIFT_POP3_PASSWORD: src.password, POPLIFT_IMAP_PASSWORD: dest.password });
  const endpoints = (src: DovecotUser, dest: MailUser) => [
    `pop3s://${src.name}@127.0.0.1:${dovecot.ports.pop3s}`,
    `imap://${dest.login}@127.0.0.1:${duck.imap!.port}`,
    '--ca-file',
    dovecot.certPath,
    '--folder',
    FOLDER,
    '--timeout',
    '30',
  ];

  /** BODY[] of each message in the folder, over the wire, keyed by subject. */
  async function served(dest: MailUser): Promise<Map<string, Buffer[]>> {
    const client = new ImapFlow({
      host: '127.0.0.1',
      port: duck.imap!.port,
      secure: false,
      auth: { user: dest.login, pass: dest.password },
      logger: false,
    });
    client.on('error', () => undefined);
    await client.connect();
    const out = new Map<string, Buffer[]>();
    try {
      const box = await client.mailboxOpen(FOLDER, { readOnly: true });
      if (box.exists > 0)
        for await (const m of client.fetch('1:*', { source: true })) {
          const id = subjectOf(m.source!) ?? '';
          out.set(id, [...(out.get(id) ?? []), m.source!]);
        }
    } finally {
      await client.logout();
    }
    return out;
  }

  it(`${COUNT} multipart messages: rebuilt copies stay on POP3, are named, and are never uploaded again`, async () => {
    const corpus = makeMimeTreeCorpus(COUNT);
    const src = dovecot.addUser('src');
    const dest = duck.addUser('dest');
    for (const m of corpus) dovecot.deliver(src, m.raw);
    const state = mkdtempSync(join(tmpdir(), 'poplift-wdimap-'));
    const figures: string[] = [];

    const run = async (label: string, stateDir: string, ...extra: string[]) => {
      const before = duck.count(dest, FOLDER);
      const r = await runCli(['migrate', ...endpoints(src, dest), '--state-dir', stateDir, '--json', ...extra], env(src, dest));
      const summary = JSON.parse(r.stdout) as Summary;
      const grew = duck.count(dest, FOLDER) - before;
      figures.push(
        `${label}: exit ${r.code}, appended ${summary.appended}, storedChanged ${summary.storedChanged ?? '-'}, ` +
          `deleted ${summary.deleted}, folder grew ${grew}, POP3 keeps ${dovecot.countInbox(src)}`,
      );
      return { r, summary, grew };
    };

    try {
      const first = await run('first run --delete', state, '--delete');

      // Which copies WildDuck changed beyond the copy rule: BODY[] as it serves it, judged by poplift's own rule.
      const copies = await served(dest);
      const changed = new Set<string>();
      const unchanged = new Set<string>();
      for (const m of corpus) {
        const id = m.subject;
        const copy = copies.get(id)?.[0];
        expect(copy, `${m.label} is in the folder`).toBeDefined();
        if (judgeCopy(copyDigests(m.raw), copyDigests(copy!)) === 'different') changed.add(id);
        else unchanged.add(id);
      }
      figures.push(
        `changed beyond the copy rule: ${changed.size} (${corpus.filter((m) => m.epilogue).length} with text after the closing boundary)`,
      );
      // The rebuild is real: every message with text after its closing boundary came back changed.
      for (const m of corpus.filter((c) => c.epilogue)) expect(changed.has(m.subject), m.label).toBe(true);
      expect(changed.size).toBeGreaterThan(0);

      // Soft from here: every figure is gathered even when one check fails.
      // (a), (d): the changed ones stay on POP3, the proven ones are deleted; the run is not a success.
      const kept = new Set((await readPop3(dovecot, src)).map((p) => subjectOf(p.source)!));
      expect.soft([...kept].sort()).toEqual([...changed].sort());
      expect.soft(first.summary.deleted).toBe(unchanged.size);
      expect.soft(first.r.code, first.r.stderr).toBe(1);
      expect.soft(first.summary.exitCode).toBe(1);
      // (c): the folder holds each message once; --json accounts for everything the folder received.
      expect.soft(duck.count(dest, FOLDER)).toBe(COUNT);
      expect.soft(first.grew).toBe(first.summary.appended + (first.summary.storedChanged ?? 0));
      expect.soft(first.summary.failed).toBe(0);
      expect.soft(first.summary.storedChanged).toBe(changed.size);

      // (b): verify names them as stored changed, not as missing, and exits non-zero. WildDuck keeps the
      // size, so plain verify, which recognises it by its greeting, reads every message whole.
      for (const deep of [false, true]) {
        const verified = await runCli(['verify', ...endpoints(src, dest), ...(deep ? ['--deep'] : [])], env(src, dest));
        const named = verified.stderr.match(/^ALTERED .*Stored changed, not proven/gm) ?? [];
        figures.push(`verify${deep ? ' --deep' : ''}: exit ${verified.code}, named stored changed ${named.length}`);
        expect.soft(verified.code, verified.stderr).toBe(1);
        expect.soft(verified.stderr).not.toMatch(/^MISSING/m);
        expect.soft(verified.stderr).toMatch(/; 0 missing, \d+ altered;/);
        expect.soft(named).toHaveLength(changed.size);
        if (!deep) expect.soft(verified.stderr).toMatch(/\(WildDuck\), so a copy's size proves nothing/);
      }

      // (c): again with the journal, and again without it: nothing more is appended.
      const second = await run('second run --delete', state, '--delete');
      expect.soft(second.grew).toBe(0);
      expect.soft(second.summary.appended).toBe(0);
      expect.soft(second.r.code).toBe(1);
      const fresh = await run('empty --state-dir --delete', mkdtempSync(join(tmpdir(), 'poplift-wdimap-')), '--delete');
      expect.soft(fresh.grew).toBe(0);
      expect.soft(fresh.summary.storedChanged).toBe(changed.size);
      expect.soft(fresh.summary.deleted).toBe(0);
      expect.soft(fresh.summary.appended).toBe(fresh.grew);
      expect.soft(fresh.r.code).toBe(1);
      expect.soft(duck.count(dest, FOLDER)).toBe(COUNT);
      expect.soft(dovecot.countInbox(src)).toBe(changed.size);
    } finally {
      console.log(`WildDuck IMAP figures:\n  ${figures.join('\n  ')}`);
    }
  }, 240_000);
});
