/**
 * Spam routing into a server that cannot mark a junk folder (GNU Mailutils
 * imap4d offers no SPECIAL-USE): `--junk auto` takes the one top-level
 * folder with a junk folder's name. Skipped where imap4d is absent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { skipIntegration } from '../helpers/dovecot.js';
import { startDovecotServer } from '../helpers/dovecot-server.js';
import { imapAdmin } from '../helpers/imap-line.js';
import type { MailServer } from '../helpers/mail-server.js';
import { mailutilsMissing, startMailutils } from '../helpers/mailutils.js';
import { readFolderOf } from '../helpers/server-changes.js';

const message = (subject: string, verdict: string) =>
  Buffer.from(
    `${verdict}From: a@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(' ', '.')}@junk.example>\r\n\r\nbody\r\n`,
  );

describe.skipIf(skipIntegration() || mailutilsMissing() !== undefined)(
  '--junk auto on a server without SPECIAL-USE (GNU Mailutils)',
  () => {
    let source: MailServer;
    let destination: MailServer;
    beforeAll(async () => {
      [source, destination] = await Promise.all([startDovecotServer({ tls: false }), startMailutils()]);
    });
    afterAll(async () => {
      await Promise.all([source?.stop(), destination?.stop()]);
    });

    it('puts spam into the one folder named Junk, the rest where asked', async () => {
      const from = await source.addUser('jsrc');
      const to = await destination.addUser('jdst');
      await source.deliver(from, [message('clean 1', ''), message('spam 1', 'X-Spam-Flag: YES\r\n'), message('clean 2', '')]);
      await imapAdmin(destination.imap!.port, to.login, to.password, ['CREATE Junk']);
      const r = await runCli(
        [
          'migrate',
          `pop3://${from.login}@127.0.0.1:${source.pop3!.port}`,
          `imap://${encodeURIComponent(to.login)}@127.0.0.1:${destination.imap!.port}`,
          '--folder',
          'Archive',
          '--junk',
          'auto',
          '--json',
          '--state-dir',
          mkdtempSync(join(tmpdir(), 'poplift-junk-name-')),
        ],
        { POPLIFT_POP3_PASSWORD: from.password, POPLIFT_IMAP_PASSWORD: to.password },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ found: 3, junk: 1, junkFolder: 'Junk', failed: 0 });
      const subjects = async (leaf: string) =>
        ((await readFolderOf(destination, to, leaf)) ?? []).map((m) => /^Subject: (.*)$/m.exec(m.toString('latin1'))?.[1]?.trim()).sort();
      expect(await subjects('Archive')).toEqual(['clean 1', 'clean 2']);
      expect(await subjects('Junk')).toEqual(['spam 1']);
    }, 120_000);
  },
);
