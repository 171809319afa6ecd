/**
 * GNU Mailutils 3.15 imap4d loses the messages other connections APPENDed
 * while a session had an mbox folder selected read-write, when that session
 * leaves it: UNSELECT, CLOSE, EXAMINE and LOGOUT alike write the folder back
 * as the session last saw it (measured with raw sessions on an empty or
 * one-message INBOX: SELECT, 10 APPENDs over another connection, each
 * answered OK; after any of them 1 or 2 messages remain). poplift selects a
 * folder read-write to learn the flags it keeps, and leaves it while its
 * upload connections start: it must not append until that selection is
 * left. Skipped where imap4d is absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTarget } from '../../src/imap/imap-target.js';
import { skipIntegration } from '../helpers/dovecot.js';
import { readCommands, TcpProxy } from '../helpers/imap-proxy.js';
import type { MailServer, MailUser } from '../helpers/mail-server.js';
import { mailutilsMissing, startMailutils } from '../helpers/mailutils.js';

const MESSAGES = 20;

describe.skipIf(skipIntegration() || mailutilsMissing() !== undefined)(
  'leaving a folder selected read-write, on GNU Mailutils imap4d',
  () => {
    let server: MailServer;
    let user: MailUser;

    beforeAll(async () => {
      server = await startMailutils();
      user = await server.addUser('deselect');
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('keeps the messages its upload connection appended while the folder was selected read-write', async () => {
      // The command that leaves the read-write selection is held until the upload connection has
      // appended every message, or for 2 s when nothing is appended meanwhile: the race of a run's
      // first uploads with that command, made certain.
      let appendsAnswered = 0;
      let release: (() => void) | undefined;
      const proxy = await TcpProxy.start(server.imap!.port, (client, upstream) => {
        let selected = false;
        let held: Buffer[] | undefined;
        readCommands(client, {
          start(text) {
            if (/^\S+ SELECT /i.test(text)) selected = true;
            else if (selected && /^\S+ (UNSELECT|CLOSE|EXAMINE|SELECT|LOGOUT)\b/i.test(text)) {
              selected = false;
              held = [];
              const timer = setTimeout(() => release?.(), 2_000);
              release = () => {
                clearTimeout(timer);
                release = undefined;
                upstream.write(Buffer.concat(held!));
                held = undefined;
              };
            }
          },
          line(line) {
            if (held) held.push(line);
            else upstream.write(line);
          },
          literal(bytes) {
            if (held) held.push(bytes);
            else upstream.write(bytes);
          },
        });
        upstream.on('data', (d: Buffer) => {
          appendsAnswered += d.toString('latin1').match(/^\S+ OK [^\r\n]*APPEND/gim)?.length ?? 0;
          if (appendsAnswered >= MESSAGES) release?.();
          client.write(d);
        });
      });
      const target = await ImapTarget.connect({
        host: '127.0.0.1',
        port: proxy.port,
        tls: 'starttls',
        allowPlaintext: true,
        user: user.login,
        password: user.password,
        tlsOptions: {},
        timeoutMs: 30_000,
      });
      try {
        let folder = await target.openFolder(['INBOX'], false);
        // A read-write SELECT: the only way to learn the flags the folder keeps. It is left in the background.
        folder = await target.inspect(folder, { flags: true });
        expect(folder.flagsKnown).toBe(true);
        const items = Array.from({ length: MESSAGES }, (_, i) => ({
          content: Buffer.from(`From: s${i}@example.org\r\nSubject: m${i}\r\n\r\nbody ${i}\r\n`),
          flags: [],
          date: undefined,
        }));
        const outcomes = await target.append(folder, items, false);
        expect(outcomes.every((o) => o.ok)).toBe(true);
        expect(appendsAnswered).toBe(MESSAGES);
        expect(await target.status(folder)).toMatchObject({ messages: MESSAGES });
      } finally {
        await target.close();
        await proxy.stop();
      }
    }, 60_000);
  },
);
