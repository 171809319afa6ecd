import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { verifyMailbox, type VerifyOptions } from '../../src/engine/verify.js';
import type { MailDestination, StoreEndpoints } from '../../src/store/mail-store.js';
import { mail, mails, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer, type AccountOptions } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox, type MailboxOptions } from '../stores/memory-source.js';

function setup(messages: Buffer[], source: MailboxOptions = {}, destination: AccountOptions = {}) {
  const mailbox = new MemoryMailbox(messages, source);
  const account = new MemoryImapServer(destination);
  return { mailbox, account, endpoints: memoryEndpoints(mailbox, account) };
}

function verify(endpoints: ReturnType<typeof memoryEndpoints>, options: Partial<VerifyOptions> = {}) {
  return verifyMailbox(endpoints, { folder: ['Archive'], deep: false, ...options }, { warn: () => undefined });
}

const withNul = mail('nul', { body: Buffer.from([0x61, 0x00, 0x62, 0x0d, 0x0a]) });

describe('verifyMailbox on in-memory stores', () => {
  it.each([true, false])('proves a migrated mailbox present (TOP offered: %s), and changes nothing', async (readsHeaders) => {
    const { mailbox, account, endpoints } = setup([...mails(4), withNul], { readsHeaders });
    await migrate(endpoints, migrateOptions());
    const appends = account.appends;
    const report = await verify(endpoints);
    expect(report).toMatchObject({
      found: 5,
      folderMessages: 5,
      present: 5,
      missing: 0,
      altered: 0,
      problems: [],
      read: readsHeaders ? 'TOP' : 'RETR',
    });
    expect(mailbox.messages).toHaveLength(5);
    expect(mailbox.removed).toEqual([]);
    expect(account.appends).toBe(appends);
    // Both sessions were ended: the maildrop can be opened again.
    (await mailbox.connect()).close();
  });

  it('reports what is missing, and a copy of another size, without creating the folder', async () => {
    const { account, endpoints } = setup(mails(3));
    // A folder that does not exist is said at once, with the folders there are, not as every message missing.
    account.addFolder('Old', []);
    await expect(verify(endpoints)).rejects.toMatchObject({
      code: 'IMAP_FOLDER_MISSING',
      exitCode: ExitCode.PARTIAL,
      message: expect.stringMatching(/'Archive' does not exist .*the account has: Old\./),
    });
    expect([...account.folders.keys()]).toEqual(['Old']);

    account.addFolder('Archive', [mail(1), Buffer.concat([mail(2), Buffer.from('longer\r\n')])]);
    const report = await verify(endpoints);
    expect(report.present).toBe(1);
    expect(report.problems.map((p) => [p.uidl, p.problem])).toEqual([
      ['u2', 'size-differs'],
      ['u3', 'missing'],
    ]);
  });

  it('reports a message the POP3 server will not send as unreadable', async () => {
    const { mailbox, endpoints } = setup(mails(2));
    await migrate(endpoints, migrateOptions());
    mailbox.faults.unreadable.add('u2');
    const report = await verify(endpoints);
    expect(report.problems).toMatchObject([{ uidl: 'u2', problem: 'unreadable' }]);
  });

  describe('--deep', () => {
    it('finds a copy whose bytes differ at the same size', async () => {
      const { account, endpoints } = setup(mails(2));
      await migrate(endpoints, migrateOptions());
      const copy = account.folders.get('Archive')!.messages[1]!;
      const altered = Buffer.from(copy.content);
      altered[altered.length - 3] = 0x58;
      expect(altered.equals(copy.content)).toBe(false);
      copy.content = altered;
      expect((await verify(endpoints)).problems).toEqual([]);
      const deep = await verify(endpoints, { deep: true });
      expect(deep).toMatchObject({ present: 1, altered: 1 });
      expect(deep.problems[0]).toMatchObject({ uidl: 'u2', problem: 'altered' });
    });

    it('compares a message with NUL through BINARY, and notes it as not compared without it', async () => {
      for (const readsBinary of [true, false]) {
        const { endpoints } = setup([withNul], {}, { readsBinary });
        await migrate(endpoints, migrateOptions());
        const report = await verify(endpoints, { deep: true });
        expect(report.present).toBe(1);
        expect(report.problems).toEqual([]);
        expect(report.notes.map((n) => n.note)).toEqual(readsBinary ? [] : ['not-compared']);
      }
    });

    it('fetches the copies over a new session when the one that indexed the folder was lost meanwhile', async () => {
      const { account, endpoints } = setup([...mails(3), withNul]);
      await migrate(endpoints, migrateOptions());
      const opened = account.sessionsOpened;
      // The session answers EXAMINE and the index, then is gone (as after a server's inactivity timeout).
      account.faults.drops.push({ afterCommands: 2 });
      const report = await verify(endpoints, { deep: true });
      expect(report).toMatchObject({ present: 4, missing: 0, altered: 0, problems: [], notes: [] });
      expect(account.sessionsOpened - opened).toBe(2);
    });

    it('gives up after three new sessions in a row that fetch nothing', async () => {
      const { account, endpoints } = setup(mails(2));
      await migrate(endpoints, migrateOptions());
      const opened = account.sessionsOpened;
      account.faults.drops.push({ afterCommands: 2 }, { afterCommands: 1 }, { afterCommands: 1 }, { afterCommands: 1 });
      await expect(verify(endpoints, { deep: true })).rejects.toMatchObject({ code: 'IMAP_CONNECTION_LOST' });
      expect(account.sessionsOpened - opened).toBe(4);
    });

    it('does not compare by UIDs of a folder recreated while the session was gone: it warns and reports the copies missing', async () => {
      const { account, endpoints } = setup([...mails(2), withNul]);
      await migrate(endpoints, migrateOptions());
      account.faults.drops.push({ afterCommands: 2 });
      let sessions = 0;
      const recreating = {
        ...endpoints,
        connectDestination: () => {
          // The second session of this check finds the folder recreated, holding other messages under the same UIDs.
          if (++sessions === 2) account.addFolder('Archive', [...mails(2).reverse(), withNul]);
          return endpoints.connectDestination();
        },
      };
      const warnings: string[] = [];
      const report = await verifyMailbox(recreating, { folder: ['Archive'], deep: true }, { warn: (w) => warnings.push(w) });
      expect(warnings).toEqual([
        expect.stringMatching(/^IMAP folder 'Archive' was recreated \(its UIDVALIDITY changed\) during the check/),
      ]);
      expect(report.problems.map((p) => [p.uidl, p.problem])).toEqual([
        ['u1', 'missing'],
        ['u2', 'missing'],
        // Not even the NUL message, fetched separately (BINARY), at a UID that now happens to hold the same bytes.
        ['u3', 'missing'],
      ]);
    });
  });

  describe('the copy rule', () => {
    /** The endpoints, recording the UIDs each fetchBodies call asks for. */
    function spying(endpoints: StoreEndpoints): { endpoints: StoreEndpoints; fetches: number[][] } {
      const fetches: number[][] = [];
      return {
        fetches,
        endpoints: {
          ...endpoints,
          connectDestination: async () => {
            const d = await endpoints.connectDestination();
            return new Proxy(d, {
              get(target, prop, receiver) {
                if (prop === 'fetchBodies')
                  return (...args: Parameters<MailDestination['fetchBodies']>) => {
                    fetches.push([...args[1]]);
                    return target.fetchBodies(...args);
                  };
                const value: unknown = Reflect.get(target, prop, receiver);
                return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
              },
            });
          },
        },
      };
    }
    const withHeaders = (m: Buffer, extra: string) => {
      const blank = m.indexOf('\r\n\r\n');
      return Buffer.concat([m.subarray(0, blank + 2), Buffer.from(extra, 'latin1'), m.subarray(blank + 2)]);
    };

    it('passes a copy the server changed in a known way and names the change; a copy that is another message fails, plain and --deep alike', async () => {
      const bareCr = mail(2, { body: 'one\rline\r\n' });
      const { account, endpoints: plainEndpoints } = setup([mail(1), bareCr, mail(3), mail(4)]);
      await migrate(plainEndpoints, migrateOptions());
      const stored = account.folders.get('Archive')!.messages;
      // GNU Mailutils adds its own header fields; Courier deletes a bare CR; the third copy is another message.
      stored[0]!.content = withHeaders(stored[0]!.content, 'Status: O\r\nX-UID: 1\r\n');
      stored[1]!.content = mail(2, { body: 'oneline\r\n' });
      stored[2]!.content = mail(3, { body: 'Body of message 3, edited.\r\n' });
      for (const deep of [false, true]) {
        const { endpoints, fetches } = spying(plainEndpoints);
        const report = await verify(endpoints, { deep });
        expect(report).toMatchObject({ found: 4, present: 3, missing: 1, altered: 0, serverChanged: 2 });
        // Counted in SERVER_CHANGES order, whichever message came first.
        expect(Object.entries(report.serverChanges)).toEqual([
          ['bareCrDeleted', 1],
          ['serverFields', 1],
        ]);
        expect(report.problems.map((p) => [p.uidl, p.problem])).toEqual([['u3', 'size-differs']]);
        expect(report.problems[0]!.detail).toMatch(/no such copy is the message/);
        expect(report.notes.map((n) => [n.uidl, n.note, n.changes, n.uid])).toEqual([
          ['u1', 'server-changed', ['serverFields'], 1],
          ['u2', 'server-changed', ['bareCrDeleted'], 2],
        ]);
        expect(report.notes[1]!.detail).toMatch(/bare CR deleted/);
        // Without --deep only the copies found with another size are read.
        if (!deep) expect(fetches.flat().sort()).toEqual([1, 2, 3]);
      }
    });

    it('a message without Message-ID is found by its header fields and body when the server changed its size', async () => {
      const { account, endpoints } = setup([mail(1, { messageId: false, body: 'a\rb\r\n' }), mail(2, { messageId: false })]);
      await migrate(endpoints, migrateOptions());
      const stored = account.folders.get('Archive')!.messages;
      // Courier deletes the bare CR; the other copy has the same header fields but is another message.
      stored[0]!.content = mail(1, { messageId: false, body: 'ab\r\n' });
      stored[1]!.content = mail(2, { messageId: false, body: 'Another body altogether.\r\n' });
      for (const deep of [false, true]) {
        const report = await verify(endpoints, { deep });
        expect(report).toMatchObject({ present: 1, missing: 1, serverChanged: 1, serverChanges: { bareCrDeleted: 1 } });
        expect(report.notes.map((n) => [n.uidl, n.changes])).toEqual([['u1', ['bareCrDeleted']]]);
        expect(report.problems.map((p) => [p.uidl, p.problem])).toEqual([['u2', 'missing']]);
        expect(report.problems[0]!.detail).toMatch(
          /^No message with its key \(fb:[0-9a-f.]+\) is in the folder; 1 with the same header fields is another message\.$/,
        );
      }
    });

    it('a message without Message-ID whose 8-bit header bytes the server made X is found and named, plain and --deep', async () => {
      const original = Buffer.from('From: a@example.org\r\nSubject: \xa37,000\r\n\r\nbody\r\n', 'latin1');
      const { account, endpoints } = setup([original]);
      await migrate(endpoints, migrateOptions());
      const copy = account.folders.get('Archive')!.messages[0]!;
      copy.content = Buffer.from(copy.content.toString('latin1').replace('\xa3', 'X'), 'latin1');
      for (const deep of [false, true]) {
        const report = await verify(endpoints, { deep });
        expect(report).toMatchObject({ present: 1, problems: [], serverChanges: { munge8bit: 1 } });
      }
    });

    it('plain verify reads no message whole when every size matches', async () => {
      const { endpoints: base } = setup(mails(5));
      await migrate(base, migrateOptions());
      const { endpoints, fetches } = spying(base);
      const report = await verify(endpoints);
      expect(report).toMatchObject({ present: 5, serverChanged: 0, serverChanges: {}, notes: [], problems: [] });
      expect(fetches).toEqual([]);
    });

    it('8-bit header bytes made X at the same size (Cyrus munge8bit): plain verify passes on size, --deep passes and names it', async () => {
      const subject = Buffer.from('Subject: \xa37,000\r\n', 'latin1');
      const original = Buffer.concat([Buffer.from('Message-ID: <m8@example.org>\r\n'), subject, Buffer.from('\r\nbody\r\n')]);
      const { account, endpoints } = setup([original]);
      await migrate(endpoints, migrateOptions());
      const copy = account.folders.get('Archive')!.messages[0]!;
      copy.content = Buffer.from(copy.content.toString('latin1').replace('\xa3', 'X'), 'latin1');
      expect(copy.content.length).toBe(original.length);
      expect(await verify(endpoints)).toMatchObject({ present: 1, problems: [], notes: [] });
      const deep = await verify(endpoints, { deep: true });
      expect(deep).toMatchObject({ present: 1, problems: [], serverChanged: 1, serverChanges: { munge8bit: 1 } });
      expect(deep.notes.map((n) => n.changes)).toEqual([['munge8bit']]);
    });

    it('--deep holds a bounded batch of messages: it fetches their copies before it reads more', async () => {
      const { endpoints: base } = setup(mails(600));
      await migrate(base, migrateOptions());
      const { endpoints, fetches } = spying(base);
      const report = await verify(endpoints, { deep: true });
      expect(report).toMatchObject({ present: 600, problems: [], notes: [] });
      expect(fetches.length).toBeGreaterThan(1);
      expect(Math.max(...fetches.map((f) => f.length))).toBeLessThanOrEqual(256);
      expect(fetches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    });
  });
});
