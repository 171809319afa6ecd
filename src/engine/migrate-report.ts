/**
 * The last steps of a migrate part: the uploads confirmed, why the run
 * stops short (if it does), the deletions, the folder's state recorded in
 * the journal, and the part's result.
 */
import type { FolderStatus } from '../store/mail-store.js';
import { deletePhase } from './delete-phase.js';
import { confirm } from './migrate-passes.js';
import type { MigrateRun, Opened, PartResult } from './migrate-run.js';

/** Confirms the uploads, says what the run must say about them, and decides whether it stops short. */
export async function settle(run: MigrateRun, opened: Opened): Promise<FolderStatus | undefined> {
  const { options, summary, ledger, stop } = run;
  const settledStatus = options.dryRun ? undefined : (run.confirmation ?? { status: await confirm(run) }).status;
  if (run.kept > 0)
    run.warnOnce(
      'no-junk-folder',
      `${run.kept} message(s) the POP3 server marked as spam ${options.dryRun ? 'would go' : 'went'} into IMAP folder '${summary.folder}' with the rest: ${run.whyNot}`,
    );
  if (ledger.suspectCount > 0) {
    run.warnOnce(
      'size-suspect',
      `${ledger.suspectCount} message(s) came from POP3 server ${opened.sourceServer} with another length than it listed: they were copied as sent, but stay on the server (check them there).`,
    );
  }

  const left = run.fresh.filter((u) => !ledger.settled.has(u) && !run.vanished.has(u)).length;
  // A stop asked for once every message was settled cut nothing short, unless deleting was still to come.
  if (stop.userRequested && left > 0) stop.stop('interrupted', 'interrupted; run poplift again to continue.');
  else if (stop.userRequested && options.delete && !options.dryRun)
    stop.stop('interrupted', 'interrupted before deleting from the source; every message was copied: run poplift again to delete.');
  if (left > 0) {
    // Exit 0 promises every message is on the destination: say why some are not.
    stop.stop('incomplete', `${left} message(s) were neither uploaded nor found on the destination; run poplift again.`);
  }
  summary.stopped = stop.message;
  summary.stopReason = stop.reason;
  return settledStatus;
}

/** Deletes from the source what is proven on the destination (delete-phase.ts), unless the run stops short. */
export async function deleteProven(run: MigrateRun): Promise<void> {
  const { options, stop } = run;
  if (!options.delete || stop.reason !== undefined) return;
  await run.withRetries('delete confirmed messages', () =>
    deletePhase(run.sessions, run.ledger, run.journal?.state, {
      ...options,
      warnOnce: (key, message) => run.warnOnce(key, message),
      stopRequested: () => stop.userRequested,
    }),
  );
}

/** The folder's state for the journal: the next run tells from it whether the folder was recreated or expunged. */
async function recordFolder(run: MigrateRun, settledStatus: FolderStatus | undefined): Promise<void> {
  const { sessions, journal, summary } = run;
  const writer = journal?.writer;
  const folder = sessions.folder;
  if (run.options.dryRun || !writer || !folder?.exists) return;
  // A run that uploaded nothing into a folder the journal already knows has nothing new to record.
  // One that saw an expunge records the folder as it is now, so the next run looks only after another;
  // so does one whose journal's record has no message count yet (written before it was kept).
  const recorded = journal.state.folder;
  if (summary.appended === 0 && !run.expunged && recorded?.uidValidity === String(folder.uidValidity) && recorded.messages !== undefined)
    return;
  const status = settledStatus ?? (await sessions.openedDestination?.status(folder).catch(() => undefined));
  if (status)
    writer.add({
      t: 'folder',
      uidValidity: status.uidValidity.toString(),
      uidNext: status.uidNext,
      messages: status.messages,
      at: new Date().toISOString(),
    });
}

/** Records the folder, ends both sessions and returns what the part did. */
export async function finish(run: MigrateRun, settledStatus: FolderStatus | undefined): Promise<PartResult> {
  const { sessions, ledger, summary } = run;
  // Neither answer tells the run anything: deletions were committed, and waited for, by the delete
  // phase, and the uploads are confirmed. The source's QUIT goes out now and the destination's
  // LOGOUT once the folder's state is recorded; neither answer is waited for.
  if (sessions.listing) void sessions.commitSource().catch(() => undefined);
  await recordFolder(run, settledStatus);
  void sessions.closeDestination();
  ledger.flush();
  summary.seconds = (performance.now() - run.started) / 1000;
  const routed: string[] = [];
  for (const [uidl, r] of ledger.settled) if (r.outcome === 'routed') routed.push(uidl);
  return { summary, routed, vouchedThere: run.vouchedElsewhere, lane: run.lane };
}
