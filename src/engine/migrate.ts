/**
 * The migration engine: moves one source mailbox into one destination
 * folder. It plans from the source listing and the journal what is new,
 * moves it in passes (transfer.ts), reconnects a side that drops with
 * backoff and goes on where it was, and deletes from the source only what is
 * proven on the destination (delete-phase.ts). It talks to the stores only
 * through the interfaces of store/mail-store.ts.
 *
 * A part of a run (the folder, or with --junk the junk folder) is one
 * MigrateRun (migrate-run.ts) taken through its steps: login, route and plan
 * (migrate-plan.ts), the passes and later source sessions
 * (migrate-passes.ts), then confirm, delete and finish (migrate-report.ts).
 */
import { option } from '../option-hint.js';
import type { StoreEndpoints } from '../store/mail-store.js';
import { login, planPart, prepareMoves, route } from './migrate-plan.js';
import { laterSessions, moveAll } from './migrate-passes.js';
import { deleteProven, finish, settle } from './migrate-report.js';
import { MigrateRun, type MigrateHooks, type MigrateOptions, type Part, type PartResult } from './migrate-run.js';
import type { MigrationSummary } from './summary.js';

export type { JunkRouting, MigrateHooks, MigrateOptions, ProgressEvent } from './migrate-run.js';
export { furtherSessionsNeeded } from './migrate-passes.js';

export async function migrateMailbox(endpoints: StoreEndpoints, options: MigrateOptions, hooks: MigrateHooks): Promise<MigrationSummary> {
  const junk = options.junk;
  if (junk === undefined) return (await movePart(endpoints, options, hooks, {})).summary;
  const started = performance.now();
  const main = await movePart(endpoints, { ...options, junk: undefined }, hooks, {
    route: async (destination) => {
      const levels = junk.folder === 'auto' ? await destination.specialUseFolder?.('\\Junk') : [...junk.folder];
      const folder = options.folder.join('/');
      // Said only by a run that put such messages into the folder: a watch that polls a mailbox
      // without spam every few minutes for months has nothing to be told.
      if (levels === undefined)
        return {
          lane: undefined,
          whyNot: `IMAP server ${destination.server} marks no folder as the junk folder (no \\Junk special-use attribute, RFC 6154); name the folder with ${option('junk')} <folder>, or give ${option('junk')} off.`,
        };
      if (levels.join('/') === folder) return { lane: undefined };
      return { lane: { levels, journal: junk.journal(levels) } };
    },
  });
  const { lane, summary } = main;
  if (lane === undefined) return summary;
  summary.junkFolder = lane.levels.join('/');
  // The junk part is needed for what was routed now, and to delete what an earlier run put there.
  const needed = main.routed.length > 0 || (options.delete && main.vouchedThere.length > 0);
  if (!needed) return summary;
  const unfinished = (why: string) => {
    summary.stopped ??= `${main.routed.length} message(s) marked as spam were not copied into IMAP folder '${summary.junkFolder}': ${why}`;
    summary.stopReason ??= 'incomplete';
  };
  // A run stopped before its end (a signal, over quota, come back later) does not begin the junk part.
  if (hooks.stopRequested?.() || summary.stopReason !== undefined) {
    if (main.routed.length > 0) unfinished('the run stopped first; run poplift again.');
    return summary;
  }
  const routed = new Set(main.routed);
  const part = await movePart(
    endpoints,
    { ...options, junk: undefined, folder: lane.levels, journal: lane.journal },
    // Its progress was shown by the main part, which counted each routed message as done.
    {
      // What the main part said already (no UIDL, a window) is not said twice.
      warn: (message) => {
        if (!summary.warnings.includes(message)) hooks.warn(message);
      },
      onFailure: (failure) => hooks.onFailure?.(failure),
      stopRequested: () => hooks.stopRequested?.() ?? false,
    },
    { only: new Set([...main.routed, ...main.vouchedThere]), routed },
  );
  return combine(summary, part.summary, started);
}

/** The run's summary: the main part's, with what the junk part did added (and counted apart as junk). */
function combine(main: MigrationSummary, junk: MigrationSummary, started: number): MigrationSummary {
  main.junk = junk.appended + junk.wouldAppend.length;
  main.appended += junk.appended;
  main.duplicates += junk.duplicates;
  main.failed += junk.failed;
  main.storedChanged += junk.storedChanged;
  main.changedList.push(...junk.changedList);
  main.bytes += junk.bytes;
  main.serverDates += junk.serverDates;
  main.duplicateList.push(...junk.duplicateList);
  main.failures.push(...junk.failures);
  main.wouldAppend.push(...junk.wouldAppend);
  main.deleted += junk.deleted;
  main.wouldDelete.push(...junk.wouldDelete);
  main.missingFromFolder += junk.missingFromFolder;
  main.reconnects += junk.reconnects;
  for (const w of junk.warnings) if (!main.warnings.includes(w)) main.warnings.push(w);
  main.stopped ??= junk.stopped;
  main.stopReason ??= junk.stopReason;
  main.seconds = (performance.now() - started) / 1000;
  return main;
}

/** One part of a run: the listed messages into one folder (see migrateMailbox and JunkRouting). */
async function movePart(endpoints: StoreEndpoints, options: MigrateOptions, hooks: MigrateHooks, part: Part): Promise<PartResult> {
  const run = new MigrateRun(endpoints, options, hooks, part);
  try {
    const opened = await login(run);
    await route(run, opened);
    await planPart(run, opened);
    await prepareMoves(run, opened);
    if (run.fresh.length > 0) await moveAll(run, opened, run.fresh);
    await laterSessions(run, opened);
    const settledStatus = await settle(run, opened);
    await deleteProven(run);
    return await finish(run, settledStatus);
  } finally {
    await run.sessions.closeAll();
  }
}
