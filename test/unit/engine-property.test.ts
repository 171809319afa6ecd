/**
 * Property: whatever faults the servers throw at it, migrate never deletes
 * a message that is not on the destination byte for byte, never stores a
 * message twice, and once a run succeeds every source message is on the
 * destination exactly once. Mailboxes are random (8-bit, NUL, bare CR and
 * LF, with and without Message-ID, exact duplicates, some already on the
 * destination, new mail arriving between runs, distinct messages that
 * share a Message-ID or a fallback key), and so are the faults of each run
 * (broken UIDLs, non-atomic MULTIAPPEND, uploads answered OK but not
 * stored, with no UID or with the UID of a message already in the folder,
 * poison messages among them); runs repeat, with the journal kept between them,
 * until one succeeds, and verify --deep then agrees.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { MigrateOptions } from '../../src/engine/migrate.js';
import { summaryExitCode } from '../../src/engine/summary.js';
import { verifyMailbox } from '../../src/engine/verify.js';
import { copyDigests, judgeCopy } from '../../src/message/copy-rule.js';
import { JournalFile, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer, type UploadDrop } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox, type DropFault } from '../stores/memory-source.js';

/** Bytes with the awkward ones (NUL, CR, LF, 8-bit, '.') far more likely than chance would make them. */
const byte = fc.oneof(fc.constantFrom(0x00, 0x0a, 0x0d, 0x2e, 0x80, 0xff), fc.integer({ min: 0, max: 255 }));
const bytes = (maxLength: number) => fc.array(byte, { maxLength }).map((a) => Buffer.from(a));

const messageSpec = fc.record({
  withId: fc.boolean(),
  crlf: fc.boolean(),
  /** Header bytes on the Subject line: anything but a line break. */
  subject: bytes(12).map((b) => Buffer.from(b.filter((c) => c !== 0x0a && c !== 0x0d))),
  body: bytes(160),
});
type MessageSpec = typeof messageSpec extends fc.Arbitrary<infer T> ? T : never;

/** Distinct messages: each has its own Message-ID or, without one, its own From (so its fallback key is its own). */
function build(spec: MessageSpec, i: number): Buffer {
  const eol = spec.crlf ? '\r\n' : '\n';
  const line = (s: string) => Buffer.from(s + eol, 'latin1');
  return Buffer.concat([
    ...(spec.withId ? [line(`Message-ID: <p${i}@prop.test>`)] : []),
    line(`From: p${i}@prop.test`),
    Buffer.from('Subject: ', 'latin1'),
    spec.subject,
    line(''),
    line('Date: Tue, 3 Mar 2026 09:00:00 +0000'),
    line(''),
    spec.body,
  ]);
}

const sourceDrop: fc.Arbitrary<DropFault> = fc.oneof(
  fc.record({ afterMessages: fc.nat({ max: 8 }) }),
  fc.record({ afterBytes: fc.nat({ max: 2500 }) }),
  fc.record({ afterCommands: fc.nat({ max: 20 }) }),
);
const uploadDrop: fc.Arbitrary<UploadDrop> = fc
  .record({
    at: fc.oneof(
      fc.record({ afterUploads: fc.nat({ max: 8 }) }),
      fc.record({ afterBytes: fc.nat({ max: 2500 }) }),
      fc.record({ afterCommands: fc.nat({ max: 12 }) }),
    ),
    stored: fc.boolean(),
  })
  .map(({ at, stored }) => ({ ...at, stored }));

/** A value in about one run of four, undefined otherwise. */
function sometimes<T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value });
}

/**
 * A broken UIDL line for the message at a position (modulo the mailbox size):
 * missing, the UIDL of the next message (repeated), with a space, or with an
 * 8-bit character.
 */
const brokenUidl = fc.record({
  at: fc.nat({ max: 20 }),
  as: fc.constantFrom('missing' as const, 'repeated' as const, 'space' as const, '8bit' as const),
});
type BrokenUidl = typeof brokenUidl extends fc.Arbitrary<infer T> ? T : never;

const runSpec = fc.record({
  /** New mail delivered to the source before the run. */
  arrivals: fc.array(messageSpec, { maxLength: 2 }),
  sourceDrops: fc.array(fc.option(sourceDrop, { nil: undefined }), { maxLength: 3 }),
  destinationDrops: fc.array(fc.option(uploadDrop, { nil: undefined }), { maxLength: 3 }),
  commitFailures: fc.array(fc.constantFrom('before-update' as const, 'after-update' as const), { maxLength: 2 }),
  /** Reconnects refused, armed once the first message is settled (a first connection that fails ends the run at once). */
  failReconnects: fc.record({ pop3: fc.nat({ max: 2 }), imap: fc.nat({ max: 2 }) }),
  throttle: fc.nat({ max: 3 }),
  refuseNext: fc.nat({ max: 2 }),
  /** Positions (modulo the mailbox size) of messages the POP3 server will not send in this run. */
  unreadable: fc.array(fc.nat({ max: 20 }), { maxLength: 2 }),
  /** Positions of poison messages: reading them always drops the POP3 session. */
  readKillers: fc.array(fc.nat({ max: 20 }), { maxLength: 1 }),
  /** Positions of poison messages: uploading them always drops the IMAP connection. */
  uploadKillers: fc.array(fc.nat({ max: 20 }), { maxLength: 1 }),
  brokenUidls: fc.array(brokenUidl, { maxLength: 3 }),
  /** UIDLs are the message numbers in this run's sessions (so they name other messages than in earlier runs). */
  numericUidls: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  /** Sizes (K) of the MULTIAPPEND batches stored in part, then refused whole. */
  partialBatches: fc.array(fc.nat({ max: 3 }), { maxLength: 2 }),
  /** Uploads answered OK while nothing is stored, with or without a UID. */
  lostNext: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
  lostWithUid: fc.boolean(),
  /** Uploads answered OK with the UID of a message already in the folder, while nothing is stored. */
  lyingUids: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  /** Octets the account may take in this run, beyond what it holds. */
  quotaLeft: sometimes(fc.nat({ max: 1500 })),
  /** A stop is requested once this many messages are settled. */
  stopAfter: sometimes(fc.nat({ max: 6 })),
  delete: fc.boolean(),
  deleteEvery: fc.integer({ min: 1, max: 4 }),
  batchMessages: fc.integer({ min: 1, max: 4 }),
  multiAppend: fc.boolean(),
  useJournal: fc.boolean(),
  dryRun: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
});
type RunSpec = typeof runSpec extends fc.Arbitrary<infer T> ? T : never;

const scenario = fc.record({
  messages: fc.array(messageSpec, { maxLength: 10 }),
  /** Exact copies: [which message, where the copy goes]. */
  copies: fc.array(fc.tuple(fc.nat({ max: 20 }), fc.nat({ max: 20 })), { maxLength: 3 }),
  /**
   * Distinct messages that share a key with another: [which message, a
   * nonzero mask XORed into its body]. Same Message-ID, or without one the
   * same Date/From/To/Subject, and the same size; different bytes.
   */
  collisions: fc.array(fc.tuple(fc.nat({ max: 20 }), fc.integer({ min: 1, max: 255 })), { maxLength: 2 }),
  /** --dedupe message-id (true) or none; without it only the journal knows what a run stored, so every run keeps one. */
  dedupe: fc.integer({ min: 0, max: 3 }).map((n) => n !== 0),
  /** Which messages the destination holds before the first run. */
  onDestination: fc.array(fc.boolean(), { maxLength: 10 }),
  hasUidl: fc.integer({ min: 0, max: 4 }).map((n) => n !== 0),
  uidPlus: fc.boolean(),
  runs: fc.array(runSpec, { minLength: 1, maxLength: 4 }),
  finalDelete: fc.boolean(),
});

/** Clean runs after the scheduled ones; one should do, the second proves it is not luck. */
const CLEAN_RUNS = 2;

const journals: JournalFile[] = [];
afterAll(() => {
  for (const j of journals) j.remove();
});

function checkInvariants(mailbox: MemoryMailbox, account: MemoryImapServer, original: readonly Buffer[], label: string): void {
  const stored = account.allMessages();
  const count = new Map<string, number>();
  for (const m of stored) {
    const k = m.content.toString('latin1');
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  for (const [k, n] of count) {
    if (n > 1) throw new Error(`${label}: a message is stored ${n} times: ${JSON.stringify(k.slice(0, 60))}`);
  }
  for (const gone of mailbox.removed) {
    if (!count.has(gone.content.toString('latin1')))
      throw new Error(`${label}: ${gone.uidl} was deleted from the source but is not on the destination`);
  }
  const onSource = [...mailbox.messages, ...mailbox.removed].map((m) => m.content.toString('latin1')).sort();
  expect(onSource).toEqual(original.map((m) => m.toString('latin1')).sort());
}

function brokenUidls(faults: readonly BrokenUidl[], uidls: readonly string[]): Map<string, string | null> {
  const broken = new Map<string, string | null>();
  if (uidls.length === 0) return broken;
  for (const { at, as } of faults) {
    const uidl = uidls[at % uidls.length]!;
    const next = uidls[(at + 1) % uidls.length]!;
    broken.set(uidl, as === 'missing' ? null : as === 'repeated' ? next : as === 'space' ? `x ${uidl}` : `${uidl}\xe9`);
  }
  // Repeats that only trade UIDLs between messages leave every UIDL unique and well formed: a server
  // that does that between sessions cannot be told from one that keeps its UIDLs (RFC 1939) without
  // reading the messages, so the journal trusts it; such faults are not generated.
  const listed = uidls.map((u) => (broken.has(u) ? broken.get(u) : u));
  if (new Set(listed).size === listed.length && listed.every((u) => typeof u === 'string' && /^[\x21-\x7e]+$/.test(u))) broken.clear();
  return broken;
}

function arm(mailbox: MemoryMailbox, account: MemoryImapServer, run: RunSpec, uidls: readonly string[]): void {
  mailbox.faults.drops = [...run.sourceDrops];
  mailbox.faults.failConnects = 0;
  account.faults.failConnects = 0;
  mailbox.faults.commitFailures = [...run.commitFailures];
  mailbox.faults.unreadable = new Set(uidls.length === 0 ? [] : run.unreadable.map((i) => uidls[i % uidls.length]!));
  mailbox.faults.killers = new Set(uidls.length === 0 ? [] : run.readKillers.map((i) => uidls[i % uidls.length]!));
  const poison = new Set(
    mailbox.messages.length === 0
      ? []
      : run.uploadKillers.map((i) => mailbox.messages[i % mailbox.messages.length]!.content.toString('latin1')),
  );
  account.faults.killers = (content) => poison.has(content.toString('latin1'));
  account.faults.drops = [...run.destinationDrops];
  account.faults.throttle = run.throttle;
  account.faults.refuseNext = run.refuseNext;
  account.faults.quotaBytes = run.quotaLeft === undefined ? undefined : account.storedBytes() + run.quotaLeft;
  mailbox.faults.uidls = brokenUidls(run.brokenUidls, uidls);
  mailbox.faults.numericUidls = run.numericUidls;
  account.faults.partialBatches = [...run.partialBatches];
  account.faults.lostNext = run.lostNext;
  account.faults.lostWithUid = run.lostWithUid;
  account.faults.lyingUids = run.lyingUids;
}

function disarm(mailbox: MemoryMailbox, account: MemoryImapServer): void {
  Object.assign(mailbox.faults, {
    drops: [],
    commitFailures: [],
    failConnects: 0,
    unreadable: new Set(),
    killers: new Set(),
    uidls: new Map(),
    numericUidls: false,
  });
  Object.assign(account.faults, {
    drops: [],
    failConnects: 0,
    throttle: 0,
    refuseNext: 0,
    quotaBytes: undefined,
    partialBatches: [],
    lostNext: 0,
    lyingUids: 0,
    killers: () => false,
  });
}

async function property(generated: typeof scenario extends fc.Arbitrary<infer T> ? T : never): Promise<void> {
  // --dedupe none leaves it to the journal alone to know what was stored, and the journal can only
  // recognise a message by a stable, unique UIDL (README: the journal is a shortcut, dedupe keeps
  // duplicates out). Without one, with exact copies on the source, or with messages already in the
  // folder, a second copy is what --dedupe none asks for.
  const stableUidls = generated.hasUidl && generated.runs.every((r) => !r.numericUidls && r.brokenUidls.length === 0);
  const none = stableUidls && generated.copies.length === 0 && !generated.onDestination.some(Boolean);
  const dedupe = generated.dedupe || !none;
  const s = { ...generated, dedupe };
  const distinct = s.messages.map(build);
  for (const [which, mask] of s.collisions) {
    if (s.messages.length === 0) break;
    const i = which % s.messages.length;
    const spec = s.messages[i]!;
    if (spec.body.length === 0) continue;
    const variant = build({ ...spec, body: Buffer.from(spec.body.map((b) => b ^ mask)) }, i);
    // Two equal variants would be an exact copy, which `copies` covers. Messages one of which is a copy
    // of the other by the copy rule (the same lines ended otherwise, or a server's known change) are
    // not two distinct messages either.
    const form = copyDigests(variant);
    const oneMessage = (d: Buffer) => judgeCopy(copyDigests(d), form) !== 'different' || judgeCopy(form, copyDigests(d)) !== 'different';
    if (!distinct.some((d) => d.equals(variant) || oneMessage(d))) distinct.push(variant);
  }
  const original = [...distinct];
  for (const [which, where] of s.copies) {
    if (distinct.length === 0) break;
    original.splice(where % (original.length + 1), 0, Buffer.from(distinct[which % distinct.length]!));
  }
  const mailbox = new MemoryMailbox(original, { hasUidl: s.hasUidl });
  const account = new MemoryImapServer({ uidPlus: s.uidPlus });
  account.addFolder(
    'Archive',
    distinct.filter((_, i) => s.onDestination[i] === true),
  );
  const endpoints = memoryEndpoints(mailbox, account);
  const journal = new JournalFile();
  journals.push(journal);

  const runOnce = async (run: RunSpec | undefined, label: string): Promise<boolean> => {
    for (const spec of run?.arrivals ?? []) {
      const content = build(spec, distinct.length);
      distinct.push(content);
      original.push(content);
      mailbox.deliver(content);
    }
    if (run)
      arm(
        mailbox,
        account,
        run,
        mailbox.messages.map((m) => m.uidl),
      );
    else disarm(mailbox, account);
    const del = run ? run.delete : s.finalDelete;
    const dryRun = run?.dryRun ?? false;
    const before = dryRun ? JSON.stringify([mailbox.messages, account.allMessages()]) : '';
    let settled = 0;
    const options = migrateOptions({
      retries: 3,
      delete: del,
      deleteEvery: run?.deleteEvery ?? 2,
      batchMessages: run?.batchMessages ?? 3,
      multiAppend: run?.multiAppend ?? false,
      dedupe: s.dedupe,
      dryRun,
      // Once the faults are gone, the user asks for the messages skipped as poison.
      retryFailed: run === undefined,
    });
    const go = (j: MigrateOptions['journal']) =>
      migrate(
        endpoints,
        { ...options, journal: j },
        {
          onProgress: () => {
            if (settled++ === 0 && run) {
              mailbox.faults.failConnects = run.failReconnects.pop3;
              account.faults.failConnects = run.failReconnects.imap;
            }
          },
          stopRequested: () => run?.stopAfter !== undefined && settled >= run.stopAfter,
        },
      );
    let ok = false;
    try {
      const { summary } = (run?.useJournal === false && s.dedupe) || dryRun ? await go(undefined) : await journal.with((j) => go(j));
      ok = summaryExitCode(summary) === 0 && !dryRun;
    } catch {
      // A run may end in an error (a fault on a first session, retries used up); the invariants must hold all the same.
    }
    checkInvariants(mailbox, account, original, label);
    if (dryRun) expect(JSON.stringify([mailbox.messages, account.allMessages()])).toBe(before);
    return ok;
  };

  for (const [i, run] of s.runs.entries()) await runOnce(run, `run ${i + 1}`);
  let success = false;
  for (let i = 0; i < CLEAN_RUNS && !success; i++) success = await runOnce(undefined, `clean run ${i + 1}`);
  if (!success) throw new Error('no clean run succeeded');

  // Every distinct message's bytes are on the destination once, also those that share a key (a
  // Message-ID, or the fallback key's header fields) with another: a key is a claim, and only a copy
  // that is the message by the copy rule makes it a duplicate.
  const stored = account.folders.get('Archive')?.messages ?? [];
  for (const m of distinct) {
    const n = stored.filter((x) => x.content.equals(m)).length;
    if (n !== 1) throw new Error(`after success, a source message is on the destination ${n} times`);
  }
  expect(stored).toHaveLength(distinct.length);
  // What migrate did, verify proves, byte for byte, and plain verify does not say more than --deep.
  for (const deep of [true, false]) {
    const report = await verifyMailbox(endpoints, { folder: ['Archive'], deep }, { warn: () => undefined });
    expect(report.problems).toEqual([]);
    expect(report.present).toBe(mailbox.messages.length);
  }
}

describe('migrate under random faults', () => {
  const runDefaults: RunSpec = {
    arrivals: [],
    sourceDrops: [],
    destinationDrops: [],
    commitFailures: [],
    failReconnects: { pop3: 0, imap: 0 },
    throttle: 0,
    refuseNext: 0,
    unreadable: [],
    readKillers: [],
    uploadKillers: [],
    brokenUidls: [],
    numericUidls: false,
    partialBatches: [],
    lostNext: 0,
    lostWithUid: false,
    lyingUids: 0,
    quotaLeft: undefined,
    stopAfter: undefined,
    delete: false,
    deleteEvery: 1,
    batchMessages: 1,
    multiAppend: false,
    useJournal: true,
    dryRun: false,
  };
  const empty = { withId: false, crlf: false, subject: Buffer.alloc(0), body: Buffer.alloc(0) };
  /** A shrunk counterexample, replayed: what it does not say is the generator's simplest value. */
  const replay = (scenario: Partial<Parameters<typeof property>[0]>) =>
    property({
      messages: [],
      copies: [],
      collisions: [],
      dedupe: false,
      onDestination: [],
      hasUidl: true,
      uidPlus: false,
      runs: [],
      finalDelete: false,
      ...scenario,
    });
  // A repeated UIDL whose original line is missing looks unique: the journal recorded message 1 under
  // message 2's UIDL, and the next run skipped message 2 on that entry and exited 0 without it.
  it('replay: a UIDL repeated while its own line is missing does not leave a journal entry for another message', async () => {
    const withId = (crlf: boolean, subject: number, body: number) => ({
      withId: true,
      crlf,
      subject: Buffer.alloc(subject),
      body: Buffer.alloc(body),
    });
    await replay({
      runs: [
        {
          ...runDefaults,
          arrivals: [withId(true, 6, 0), withId(false, 2, 9)],
          numericUidls: true,
          quotaLeft: 0,
          useJournal: false,
          dryRun: true,
        },
        { ...runDefaults, arrivals: [empty, empty], numericUidls: true, quotaLeft: 0, useJournal: false, dryRun: true },
        {
          ...runDefaults,
          arrivals: [empty, empty],
          brokenUidls: [
            { at: 7, as: 'missing' },
            { at: 0, as: 'repeated' },
          ],
          quotaLeft: 105,
        },
      ],
    });
  });
  it('replay: under --dedupe none, a message sharing a key with a stored one is never sent after a lost reply', async () => {
    await replay({
      messages: [{ withId: true, crlf: false, subject: Buffer.alloc(0), body: Buffer.from([0]) }],
      collisions: [[0, 1]],
      runs: [{ ...runDefaults, destinationDrops: [{ afterUploads: 2, stored: false }], throttle: 1, quotaLeft: 68, useJournal: false }],
    });
  });

  // The same engine bug with a missing, then a repeated UIDL line instead of numeric UIDLs.
  it('replay: broken UIDL lines and an upload answered OK but not stored end with exit 0 and a message missing', async () => {
    const spec = (n: number, crlf: boolean) => ({
      withId: true,
      crlf,
      subject: Buffer.alloc(5 + 3 * Number(!crlf)),
      body: Buffer.alloc(n),
    });
    await replay({
      messages: [spec(1, true)],
      runs: [
        { ...runDefaults, arrivals: [spec(3, false)], numericUidls: true, stopAfter: 0, useJournal: false, dryRun: true },
        { ...runDefaults, throttle: 1, brokenUidls: [{ at: 0, as: 'missing' }], lostNext: 1, delete: true, useJournal: false },
        { ...runDefaults, brokenUidls: [{ at: 0, as: 'repeated' }], lostNext: 1 },
      ],
    });
  });
  // Engine bug, excluded from the generator until fixed; the shrunk counterexample, replayed. A run
  // with numeric UIDLs whose upload is answered OK without a UID while nothing is stored (after an
  // earlier run of the same lost upload, a failed commit and refused reconnects): the clean runs then
  // end with exit 0 while the message is not on the destination. Without the numeric UIDLs, or without
  // the lost upload in that run, it passes.
  it('replay: numeric UIDLs and an upload answered OK but not stored end with exit 0 and a message missing', async () => {
    await replay({
      runs: [
        {
          ...runDefaults,
          arrivals: [empty],
          sourceDrops: [undefined, { afterCommands: 0 }],
          commitFailures: ['before-update'],
          failReconnects: { pop3: 2, imap: 0 },
          lostNext: 1,
          delete: true,
        },
        { ...runDefaults, numericUidls: true, lostNext: 1 },
      ],
    });
  });

  // An upload stored by a run that ended before confirming it is looked for by the next run under
  // --dedupe none: trusting it unconfirmed exits 0 without it when it was not stored (the replay
  // above), and ignoring it stores it twice when it was.
  it('replay: under --dedupe none, what a run uploaded before it failed is not stored again', async () => {
    await replay({
      runs: [
        { ...runDefaults, arrivals: [empty], stopAfter: 0, useJournal: false, dryRun: true },
        { ...runDefaults, arrivals: [empty], lostNext: 1, useJournal: false, dryRun: true },
        { ...runDefaults, failReconnects: { pop3: 2, imap: 0 }, readKillers: [1], quotaLeft: 67, useJournal: false },
      ],
    });
  });

  // An upload whose answer was lost, in a run that then stopped (over quota) before looking for it:
  // under --dedupe none the next run sent it again.
  it('replay: under --dedupe none, an upload whose answer was lost is looked for by the next run', async () => {
    await replay({
      runs: [
        {
          ...runDefaults,
          arrivals: [empty, empty],
          destinationDrops: [{ afterCommands: 3, stored: true }],
          quotaLeft: 0,
          batchMessages: 2,
          useJournal: false,
        },
      ],
    });
  });

  // A message the folder took for an upload without a UID named (no UIDPLUS) is no upload's by UID: the
  // message of unknown outcome that shares its header fields took it for its own changed copy, and
  // stayed on the source as stored changed while its bytes were in the folder nowhere.
  it('replay: without UIDPLUS, the copy of another upload is not taken for a changed copy', async () => {
    await replay({
      messages: [{ withId: false, crlf: false, subject: Buffer.alloc(0), body: Buffer.from([0]) }],
      collisions: [[0, 1]],
      runs: [{ ...runDefaults, arrivals: [empty], uploadKillers: [10], useJournal: false }],
    });
  });

  it('replay: an APPENDUID naming a copy already there does not take it from the upload it belongs to', async () => {
    // Seed 1305882916: without UIDL or journal, a refused MULTIAPPEND, a read that fails, and a server
    // answering APPENDUID with UIDs it already holds; the claim of the lie cost the real copy its owner,
    // which was sent again.
    await replay({
      messages: [empty, empty, empty],
      hasUidl: false,
      runs: [
        { ...runDefaults, arrivals: [empty], lostNext: 1, useJournal: false, dryRun: true },
        {
          ...runDefaults,
          arrivals: [empty],
          refuseNext: 1,
          unreadable: [0],
          numericUidls: true,
          lyingUids: 2,
          batchMessages: 3,
          multiAppend: true,
          useJournal: false,
        },
      ],
    });
  });

  it('replay: a copy a run without the journal made is not taken for the changed copy of an upload cut off earlier', async () => {
    // Seed -1705678821, shrunk by hand: the journal's run cut an upload off; a run without the journal
    // then stored another message under its key.
    await replay({
      messages: [empty, empty, empty, empty, { ...empty, body: Buffer.from([0]) }],
      copies: [[0, 0]],
      collisions: [[14, 1]],
      runs: [
        { ...runDefaults, arrivals: [empty], unreadable: [6], uploadKillers: [13] },
        { ...runDefaults, refuseNext: 1, numericUidls: true, useJournal: false },
      ],
    });
  });

  it('never deletes an uncopied message, never stores one twice, and ends with each message once', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, (s) => property(s)),
      { numRuns: Number(process.env.POPLIFT_PROPERTY_RUNS ?? 100) },
    );
  });
});
