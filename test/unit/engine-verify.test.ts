import { describe, expect, it } from 'vitest';
import { verifyMailbox, type VerifyOptions } from '../../src/engine/verify.js';
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
      code: 'IMAP_FOLDER',
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
});
