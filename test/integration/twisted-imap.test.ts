/**
 * Twisted's IMAP4 server as destination (issue 26 item 4). Twisted drops the
 * connection when asked for header fields of a stored message whose header
 * has 8-bit bytes (its _formatHeaders encodes them as ASCII). The POP3
 * source (a private Dovecot) is clean. A drop is the IMAP server's doing:
 * the run must say so, name the IMAP server, end (every retry is bounded)
 * with a non-zero exit, and never store a message twice.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { skipIntegration } from '../helpers/dovecot.js';
import type { MailServer, MailUser } from '../helpers/mail-server.js';
import { serverMissing, server } from '../helpers/servers.js';
import { startTwistedImap, twistedMissing, type TwistedImap } from '../helpers/twisted.js';

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const PLAIN = [1, 2, 3, 4, 5, 6].map((i) =>
  bin(`From: a${i}@example.org\r\nTo: b@example.org\r\nSubject: plain ${i}\r\nMessage-ID: <p${i}@example.org>\r\n\r\nbody ${i}\r\n`),
);
const EIGHT_BIT = bin(
  'From: Ren\xe9 <r@example.fr>\r\nTo: b@example.org\r\nSubject: \xa37,000 caf\xe9\r\nMessage-ID: <e@example.fr>\r\n\r\npay\r\n',
);
const FOLDER = 'Archive';
/** Reconnects allowed per step (--retries): few, so the test is quick; the bound is what is tested. */
const RETRIES = 2;

describe.skipIf(skipIntegration() || twistedMissing() !== undefined || serverMissing('dovecot') !== undefined)(
  'Twisted IMAP4 as destination: it drops the connection on the header of an 8-bit message',
  () => {
    let pop: MailServer;
    let popUser: MailUser;
    let imap: TwistedImap;
    const state = mkdtempSync(join(tmpdir(), 'poplift-twisted-state-'));
    const runs: Array<CliResult & { seconds: number; summary?: MigrationSummary }> = [];

    const migrate = async (stateDir: string) => {
      const t0 = performance.now();
      const r = await runCli(
        [
          'migrate',
          `pop3://${encodeURIComponent(popUser.login)}@127.0.0.1:${pop.pop3!.port}`,
          `imap://${imap.user}@127.0.0.1:${imap.port}`,
          '--folder',
          FOLDER,
          '--json',
          '--allow-plaintext',
          '--state-dir',
          stateDir,
          '--timeout',
          '10',
          '--retries',
          String(RETRIES),
          ...(pop.certPath ? ['--pop3-ca-file', pop.certPath] : []),
        ],
        { POPLIFT_POP3_PASSWORD: popUser.password, POPLIFT_IMAP_PASSWORD: imap.password },
      );
      const seconds = (performance.now() - t0) / 1000;
      const summary = r.stdout.trim() ? (JSON.parse(r.stdout) as MigrationSummary) : undefined;
      return { ...r, seconds, summary };
    };

    const folderCount = async (): Promise<number> => {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: imap.port,
        secure: false,
        doSTARTTLS: false,
        auth: { user: imap.user, pass: imap.password },
        logger: false,
        disableAutoIdle: true,
      });
      client.on('error', () => undefined);
      await client.connect();
      const status = await client.status(FOLDER, { messages: true });
      await client.logout();
      return status ? (status.messages ?? -1) : -1;
    };

    beforeAll(async () => {
      pop = await server('dovecot');
      popUser = await pop.addUser('twsrc');
      await pop.deliver(popUser, [...PLAIN, EIGHT_BIT]);
      imap = await startTwistedImap();
      runs.push(await migrate(state));
      runs.push(await migrate(state));
      for (const [i, r] of runs.entries()) {
        if (process.env.TW_DUMP) console.log(`RUN ${i + 1} STDERR:\n${r.stderr}\nSTDOUT:\n${r.stdout}`);
        console.log(
          `Twisted run ${i + 1}: exit ${r.code} in ${r.seconds.toFixed(1)} s; ${JSON.stringify(r.summary?.failures ?? [])}; ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`,
        );
      }
    }, 300_000);

    afterAll(async () => {
      await imap?.stop();
    });

    it('the server really drops on that header (Twisted logs the encoding error)', () => {
      expect(imap.output()).toMatch(/UnicodeEncodeError/);
    });

    it('no run ends with exit 0, and none reconnects more than --retries times: a drop that settles nothing does not renew the budget', () => {
      for (const r of runs) {
        expect(r.code, r.stderr).not.toBe(0);
        expect(r.stderr.match(/Reconnecting in/g)?.length ?? 0, r.stderr).toBeLessThanOrEqual(RETRIES);
      }
    });

    it('the drops are charged to the IMAP server, never to the POP3 server or a message read from it', () => {
      for (const r of runs) {
        const text = JSON.stringify(r.summary ?? {}) + r.stderr;
        expect(text).not.toMatch(/POP3 server[^"]*dropped/);
        expect(r.summary?.failures ?? []).toEqual([]);
        expect(r.summary).toMatchObject({ error: { side: 'IMAP', server: `127.0.0.1:${imap.port}` } });
      }
    });

    it('every message is stored once: the second run stores nothing again', async () => {
      expect(await folderCount()).toBe(PLAIN.length + 1);
    });
  },
);
