import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { MigrateOptions } from '../../src/engine/migrate.js';
import { JournalWriter } from '../../src/state/journal.js';
import { JournalFile, mail, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer, type AccountOptions } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';
import { verifyExitCode, verifyMailbox } from '../../src/engine/verify.js';

/** A message its source's filter marked as spam. */
function spam(id: number | string): Buffer {
  return Buffer.concat([Buffer.from('X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=9.1 required=5.0\r\n'), mail(`spam-${id}`)]);
}

const journals: JournalFile[] = [];
afterEach(() => {
  for (const j of journals.splice(0)) j.remove();
});

/** The journals of a mailbox, one per folder, as the CLI keeps them. */
class Journals {
  private readonly files = new Map<string, JournalFile>();
  private readonly writers: JournalWriter[] = [];

  file(folder: string): JournalFile {
    let f = this.files.get(folder);
    if (f === undefined) {
      f = new JournalFile();
      journals.push(f);
      this.files.set(folder, f);
    }
    return f;
  }

  open(folder: string): NonNullable<MigrateOptions['journal']> {
    const f = this.file(folder);
    const writer = new JournalWriter(f.path);
    this.writers.push(writer);
    return { state: f.load(), writer };
  }

  close(): void {
    for (const w of this.writers.splice(0)) w.close();
  }
}

function setup(messages: Buffer[], account: AccountOptions = {}) {
  const mailbox = new MemoryMailbox(messages);
  const server = new MemoryImapServer(account);
  return { mailbox, server, endpoints: memoryEndpoints(mailbox, server) };
}

/** One run as the CLI makes it: the folder's journal, and the junk folder's once the engine names it. */
async function run(
  endpoints: ReturnType<typeof setup>['endpoints'],
  j: Journals,
  junk: readonly string[] | 'auto',
  overrides: Partial<MigrateOptions> = {},
) {
  try {
    return await migrate(
      endpoints,
      migrateOptions({
        journal: j.open('Archive'),
        junk: { folder: junk, journal: (levels) => j.open(levels.join('/')) },
        ...overrides,
      }),
    );
  } finally {
    j.close();
  }
}

const contents = (server: MemoryImapServer, folder: string) => server.folders.get(folder)?.messages.map((m) => m.content) ?? [];

describe('junk routing (--junk)', () => {
  it('puts the messages the source marked as spam into the junk folder and the rest into the folder, each once', async () => {
    const clean = [mail(1), mail(2), mail(3)];
    const junk = [spam(1), spam(2)];
    const { mailbox, server, endpoints } = setup([clean[0]!, junk[0]!, clean[1]!, junk[1]!, clean[2]!]);
    const j = new Journals();
    const first = await run(endpoints, j, ['Junk']);
    expect(first.summary).toMatchObject({ found: 5, appended: 5, duplicates: 0, failed: 0, junk: 2, junkFolder: 'Junk' });
    expect(first.summary.stopReason).toBeUndefined();
    expect(contents(server, 'Archive')).toEqual(clean);
    expect(contents(server, 'Junk')).toEqual(junk);

    // A second run reads nothing again and uploads nothing again, in either folder.
    const read = mailbox.retrieved;
    const second = await run(endpoints, j, ['Junk']);
    expect(second.summary).toMatchObject({ found: 5, knownFromJournal: 5, appended: 0, duplicates: 0, failed: 0, junk: 0 });
    expect(mailbox.retrieved).toBe(read);

    // --delete proves each copy in the folder it went to before deleting it.
    const third = await run(endpoints, j, ['Junk'], { delete: true });
    expect(third.summary).toMatchObject({ appended: 0, deleted: 5, failed: 0 });
    expect(third.summary.stopReason).toBeUndefined();
    expect(mailbox.messages).toHaveLength(0);
    expect(contents(server, 'Archive')).toEqual(clean);
    expect(contents(server, 'Junk')).toEqual(junk);
  });

  it('without journals, a second run finds every message in the folder it went to', async () => {
    const { server, endpoints } = setup([mail(1), spam(1), mail(2)]);
    const opts = { junk: { folder: ['Junk'], journal: () => undefined } } as const;
    await migrate(endpoints, migrateOptions(opts));
    const again = await migrate(endpoints, migrateOptions(opts));
    expect(again.summary).toMatchObject({ appended: 0, duplicates: 3, junk: 0 });
    expect(contents(server, 'Archive')).toHaveLength(2);
    expect(contents(server, 'Junk')).toEqual([spam(1)]);
  });

  it('deletes with --delete in the run that copies, each message proven in its own folder', async () => {
    const { mailbox, server, endpoints } = setup([spam(1), mail(1), spam(2)]);
    const j = new Journals();
    const { summary } = await run(endpoints, j, ['Junk'], { delete: true });
    expect(summary).toMatchObject({ appended: 3, deleted: 3, junk: 2, failed: 0 });
    expect(mailbox.messages).toHaveLength(0);
    expect(contents(server, 'Archive')).toEqual([mail(1)]);
    expect(contents(server, 'Junk')).toEqual([spam(1), spam(2)]);
  });

  it('does not delete a junk message whose copy is no longer in the junk folder', async () => {
    const { mailbox, server, endpoints } = setup([spam(1), mail(1)]);
    const j = new Journals();
    await run(endpoints, j, ['Junk']);
    server.folders.get('Junk')!.messages = [];
    const { summary } = await run(endpoints, j, ['Junk'], { delete: true });
    expect(summary.deleted).toBe(1);
    expect(summary.failed).toBe(1);
    expect(mailbox.messages.map((m) => m.content)).toEqual([spam(1)]);
  });

  it('--junk auto finds the folder the server marks \\Junk', async () => {
    const { server, endpoints } = setup([spam(1), mail(1)], { specialUse: { '\\Junk': 'Spam' } });
    server.addFolder('Spam');
    const j = new Journals();
    const { summary, warnings } = await run(endpoints, j, 'auto');
    expect(summary).toMatchObject({ junk: 1, junkFolder: 'Spam' });
    expect(warnings).toEqual([]);
    expect(contents(server, 'Spam')).toEqual([spam(1)]);
    expect(contents(server, 'Archive')).toEqual([mail(1)]);
  });

  it('--junk auto without a \\Junk folder routes nothing and says so once', async () => {
    const { server, endpoints } = setup([spam(1), mail(1), spam(2)]);
    const j = new Journals();
    const { summary, warnings } = await run(endpoints, j, 'auto');
    expect(summary).toMatchObject({ appended: 3, junkFolder: undefined });
    expect(summary.stopReason).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^2 message\(s\) the POP3 server marked as spam went into IMAP folder 'Archive'.*no \\Junk special-use attribute.*--junk <folder>/,
    );
    expect(contents(server, 'Archive')).toHaveLength(3);
    // A run that finds no marked message has nothing to say (a watch polling for months).
    const quiet = setup([mail(5)]);
    expect((await run(quiet.endpoints, new Journals(), 'auto')).warnings).toEqual([]);
  });

  it('a spam message the folder holds already (copied before --junk) stays there and is not copied again', async () => {
    const { server, endpoints } = setup([spam(1), mail(1)]);
    server.addFolder('Archive', [spam(1)]);
    const j = new Journals();
    const { summary } = await run(endpoints, j, ['Junk']);
    expect(summary).toMatchObject({ appended: 1, duplicates: 1, junk: 0 });
    expect(server.folders.get('Junk')).toBeUndefined();
  });

  it('a dry run says where each message would go and changes nothing', async () => {
    const { mailbox, server, endpoints } = setup([spam(1), mail(1)]);
    const { summary } = await migrate(endpoints, migrateOptions({ dryRun: true, junk: { folder: ['Junk'], journal: () => undefined } }));
    expect(summary.wouldAppend).toHaveLength(2);
    expect(summary.junk).toBe(1);
    expect(server.folders.size).toBe(0);
    expect(mailbox.messages).toHaveLength(2);
  });

  it('a run stopped before the junk part ends incomplete, and the next run copies the junk', async () => {
    const { server, endpoints } = setup([spam(1), mail(1)]);
    server.faults.later = 1;
    const j = new Journals();
    const first = await run(endpoints, j, ['Junk'], { batchMessages: 1 });
    expect(first.summary.stopReason).toBeDefined();
    const second = await run(endpoints, j, ['Junk']);
    expect(second.summary.stopReason).toBeUndefined();
    expect(contents(server, 'Archive')).toEqual([mail(1)]);
    expect(contents(server, 'Junk')).toEqual([spam(1)]);
  });
});

describe('verify --junk', () => {
  it('finds the messages migrate put into the junk folder there, and only there', async () => {
    const { server, endpoints } = setup([mail(1), spam(1), mail(2), spam(2)], { specialUse: { '\\Junk': 'Junk' } });
    await migrate(endpoints, migrateOptions({ junk: { folder: ['Junk'], journal: () => undefined } }));
    const warn = () => undefined;
    const alone = await verifyMailbox(endpoints, { folder: ['Archive'], deep: false }, { warn });
    expect(alone).toMatchObject({ present: 2, missing: 2, junkFolder: null, inJunk: 0 });
    for (const junk of [['Junk'], 'auto'] as const) {
      const both = await verifyMailbox(endpoints, { folder: ['Archive'], deep: true, junk }, { warn });
      expect(both).toMatchObject({ present: 4, missing: 0, problems: [], junkFolder: 'Junk', inJunk: 2 });
      expect(verifyExitCode(both)).toBe(0);
    }
    // A junk message gone from the junk folder is missing, and says it was looked for there too.
    server.folders.get('Junk')!.messages.shift();
    const gone = await verifyMailbox(endpoints, { folder: ['Archive'], deep: false, junk: ['Junk'] }, { warn });
    expect(gone).toMatchObject({ present: 3, missing: 1, inJunk: 1 });
    expect(gone.problems[0]!.detail).toMatch(/IMAP folder 'Junk' does not hold it either/);
  });
});

describe('junk routing under faults (property)', () => {
  it('whatever drops the servers make, runs repeated until one succeeds leave each message once, in its own folder, and delete only what is there', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.option(fc.nat({ max: 14 })), fc.option(fc.nat({ max: 8 })), fc.boolean()), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (kinds, faults, remove) => {
          const messages = kinds.map((isSpam, i) => (isSpam ? spam(i) : mail(i)));
          const { mailbox, server, endpoints } = setup(messages);
          const j = new Journals();
          let ok = false;
          for (let attempt = 0; attempt < 12 && !ok; attempt++) {
            const [pop, imap, stored] = faults[attempt % faults.length]!;
            // Every session of the run may drop, on either side.
            for (let s = 0; s < 8; s++) {
              mailbox.faults.drops.push(pop === null || attempt >= faults.length ? undefined : { afterCommands: pop + s });
              server.faults.drops.push(imap === null || attempt >= faults.length ? undefined : { afterUploads: imap, stored });
            }
            // A run whose reconnects ran out ends in an error, as a real one exits 4: the next run goes on.
            const summary = await run(endpoints, j, ['Junk'], { delete: remove, retries: 2 }).then(
              (r) => r.summary,
              () => undefined,
            );
            ok = summary !== undefined && summary.stopReason === undefined && summary.failed === 0;
            mailbox.faults.drops.length = 0;
            server.faults.drops.length = 0;
            // Nothing is deleted from the source that is not in its own folder.
            for (const gone of mailbox.removed) {
              const folder = kinds[messages.findIndex((m) => m.equals(gone.content))] ? 'Junk' : 'Archive';
              expect(contents(server, folder).some((c) => c.equals(gone.content))).toBe(true);
            }
          }
          expect(ok).toBe(true);
          const archive = contents(server, 'Archive');
          const junk = contents(server, 'Junk');
          for (const [i, m] of messages.entries()) {
            const [here, there] = kinds[i] ? [junk, archive] : [archive, junk];
            expect(here.filter((c) => c.equals(m))).toHaveLength(1);
            expect(there.filter((c) => c.equals(m))).toHaveLength(0);
          }
          expect(mailbox.messages).toHaveLength(remove ? 0 : messages.length);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
