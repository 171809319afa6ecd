/**
 * Verification: proves, without changing anything on either side, that every
 * message of a source mailbox is in a destination folder.
 *
 * A source message is there when the folder holds a message with its dedup key
 * that is the message by the copy rule (message/copy-rule.ts), the same rule
 * --delete applies: byte-equal, or equal once the changes servers are known
 * to make on storage are undone (then it is reported with the changes by
 * name). Without --deep a copy with the key and the message's exact size is
 * taken as it, so the source side needs only headers and sizes: `TOP n 0`
 * and the LIST size when the server offers TOP (a message that does not
 * match that way is read whole with RETR, since LIST sizes are not always
 * exact), RETR otherwise. A message whose key is there only with another
 * size is judged by its bytes: it and its candidate copies are read and
 * compared by the rule, since a server that changes a message on storage
 * changes its size. A Message-ID that several source messages carry does
 * not settle any of them by size (distinct messages may share one: a sensor
 * sends every reading under one): each is judged by its bytes. Without TOP
 * the keys are known only once every message was read, so such messages are
 * read again. A message without a usable Message-ID has a fallback
 * key, which the folder's index knows only up to its header fields: it is
 * always judged by its bytes against the copies with those fields. With --deep
 * every message is judged by its bytes. Copies come with BODY[] (BINARY[]
 * when the message holds NUL, which a BODY[] literal cannot carry, unless it
 * has base64 or quoted-printable parts, which BINARY[] returns decoded: such
 * a message is noted as not compared).
 *
 * Memory stays bounded: messages to judge are held in batches of at most
 * BATCH_MESSAGES messages or BATCH_BYTES octets (one larger message alone),
 * whose copies are fetched and judged one at a time before more is read.
 *
 * Nothing is written: no DELE, no APPEND, no folder creation; the folder is
 * only EXAMINEd and fetched with PEEK; after a RETR the source session sends
 * RSET before QUIT, so servers that mark retrieved messages read (Dovecot)
 * forget it.
 *
 * A folder's check is one VerifyRun (verify-run.ts) taken through its steps:
 * login, list, open and index the folder (verify-list.ts), read the source
 * (verify-read.ts), judge the copies (verify-judge.ts), and the report
 * (verify-report.ts).
 */
import type { StoreEndpoints } from '../store/mail-store.js';
import { indexFolder, listSource, login, openTheFolder } from './verify-list.js';
import { freshSession, readHeaders, readWhole } from './verify-read.js';
import { judgeBatch } from './verify-judge.js';
import { completeReport, mergeJunk, type FolderCheck, type VerifyHooks, type VerifyOptions, type VerifyReport } from './verify-report.js';
import { VerifyRun } from './verify-run.js';

export { describeChanges, verifyExitCode } from './verify-report.js';
export type {
  ServerChange,
  VerifyHooks,
  VerifyNote,
  VerifyOptions,
  VerifyProblem,
  VerifyProblemKind,
  VerifyReport,
} from './verify-report.js';

export async function verifyMailbox(endpoints: StoreEndpoints, options: VerifyOptions, hooks: VerifyHooks): Promise<VerifyReport> {
  const report = await verifyFolder(endpoints, options, hooks);
  if (options.junk === undefined) return report;
  const started = performance.now() - report.seconds * 1000;
  // Only a message the folder has no copy of may be in the junk folder: one found there changed is not.
  const elsewhere = new Map(report.problems.filter((p) => p.problem === 'missing' || p.problem === 'size-differs').map((p) => [p.uidl, p]));
  let levels = options.junk === 'auto' ? undefined : [...options.junk];
  if (options.junk === 'auto') {
    const destination = await endpoints.connectDestination();
    try {
      levels = await destination.specialUseFolder?.('\\Junk');
      if (levels === undefined)
        hooks.warn(
          `IMAP server ${destination.server} marks no folder as the junk folder (no \\Junk special-use attribute, RFC 6154): only '${report.folder}' was checked.`,
        );
    } finally {
      await destination.close().catch(() => undefined);
    }
  }
  if (levels === undefined || levels.join('/') === report.folder) return report;
  report.junkFolder = levels.join('/');
  if (elsewhere.size === 0) return report;
  const junk = await verifyFolder(endpoints, { ...options, folder: levels, only: new Set(elsewhere.keys()) }, hooks, true);
  mergeJunk(report, junk, elsewhere, started);
  return report;
}

/** Proves the messages of the mailbox (those of `only`, when set) in one folder; see the file's header. */
async function verifyFolder(
  endpoints: StoreEndpoints,
  options: FolderCheck,
  hooks: VerifyHooks,
  missingFolderIsOk = false,
): Promise<VerifyReport> {
  const run = new VerifyRun(endpoints, options, hooks, missingFolderIsOk);
  try {
    await login(run);
    await listSource(run);
    if (!(await openTheFolder(run))) return run.report;
    await indexFolder(run);
    const { listing } = run;
    const numbers = listing.order.filter((uidl) => options.only?.has(uidl) !== false).map((uidl) => listing.number(uidl)!);
    const toRead = run.useTop ? await readHeaders(run, numbers) : numbers;
    const readNumbers = run.useTop && toRead.length > 0 ? await freshSession(run, toRead) : toRead;
    await readWhole(run, readNumbers, toRead);
    if (run.batch.length > 0) await judgeBatch(run, run.batch);
    return completeReport(run.report, run.started);
  } finally {
    run.source?.close();
    await run.destination?.close().catch(() => undefined);
  }
}
