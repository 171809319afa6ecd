/** What one mailbox migration did, for the text summary, --json and the exit code. */
import type { ListingWindow } from '../store/listing.js';
import type { StopReason } from './stop-signal.js';

export interface DuplicateReport {
  /** The source's UIDL of the skipped message (or its message number when the server has no UIDL). */
  uidl: string;
  key: string;
  /** Where the copy that was kept lives. */
  keptIn: 'destination' | 'this-run';
  /** UIDL of the message kept in this run, or "UID n" on the destination. */
  keptAs: string;
  /** The destination UID of the copy kept, when it is on the destination. */
  keptUid: number | undefined;
  /** True when the copy kept has a different size: the two may not be the same message. */
  sizeDiffers: boolean;
}

export interface FailureReport {
  uidl: string;
  /** Which side refused the message, in the server's words. */
  side: 'POP3' | 'IMAP';
  reason: string;
}

export interface PlannedAppend {
  uidl: string;
  key: string;
  size: number;
  flags: string[];
  date: string | undefined;
}

export interface MigrationSummary {
  /** The source's label (a public JSON field: its name stays). */
  pop3: string;
  /** The destination's label (a public JSON field: its name stays). */
  imap: string;
  folder: string;
  dryRun: boolean;
  found: number;
  appended: number;
  duplicates: number;
  failed: number;
  /**
   * Messages the folder took but stored changed beyond what the copy rule
   * accepts (a server that rebuilds messages): not uploaded again, not
   * deleted, not proven.
   */
  storedChanged: number;
  /** Each of them, with what was found. */
  changedList: FailureReport[];
  /** Octets uploaded (or that would be, in a dry run). */
  bytes: number;
  seconds: number;
  /** Messages whose internal date fell back to the server's time. */
  serverDates: number;
  duplicateList: DuplicateReport[];
  failures: FailureReport[];
  /** Dry run only: what would be uploaded. */
  wouldAppend: PlannedAppend[];
  /** Messages removed from the source mailbox (committed at the end of its session) after their copy was confirmed. */
  deleted: number;
  /** Dry run with --delete: what would be removed. */
  wouldDelete: string[];
  /** Messages whose earlier outcome the journal recorded, so this run did not read them. */
  knownFromJournal: number;
  /** Of those, the ones whose copy is no longer in the folder (deleted there), when the run looked. */
  missingFromFolder: number;
  /** What the destination was recognised as (a hosted provider and why), when that changed how it was treated. */
  destinationKind: string | undefined;
  /** Source sessions that listed messages (more than one when the source shows its mailbox in windows). */
  sessions: number;
  /** Connections re-established after a drop, reset or stall. */
  reconnects: number;
  /**
   * Set when the source lists at most a bounded window of its mailbox
   * (WildDuck's POP3): older messages may be unreachable from the source, so this
   * run proves only what was listed. `reportedBefore`: the journal shows an
   * earlier run of this mailbox, which reported it already.
   */
  window: (ListingWindow & { listed: number; reportedBefore: boolean }) | undefined;
  /**
   * With --junk: the junk folder, when the run routes to one (undefined:
   * no routing, or --junk auto found no \Junk folder).
   */
  junkFolder: string | undefined;
  /**
   * Messages the source marked as spam that this run put into the junk
   * folder (also counted in appended; in a dry run, those it would put
   * there). Those found there already count as duplicates only.
   */
  junk: number;
  /** Set when the mailbox was stopped early (over quota, --max-errors, a signal). */
  stopped: string | undefined;
  /** Why the mailbox was stopped early, when it was. */
  stopReason: StopReason | undefined;
  warnings: string[];
}

export function emptySummary(sourceLabel: string, destinationLabel: string, folder: string, dryRun: boolean): MigrationSummary {
  return {
    pop3: sourceLabel,
    imap: destinationLabel,
    folder,
    dryRun,
    found: 0,
    appended: 0,
    duplicates: 0,
    failed: 0,
    storedChanged: 0,
    changedList: [],
    bytes: 0,
    seconds: 0,
    serverDates: 0,
    duplicateList: [],
    failures: [],
    wouldAppend: [],
    deleted: 0,
    wouldDelete: [],
    knownFromJournal: 0,
    missingFromFolder: 0,
    destinationKind: undefined,
    sessions: 0,
    reconnects: 0,
    window: undefined,
    junkFolder: undefined,
    junk: 0,
    stopped: undefined,
    stopReason: undefined,
    warnings: [],
  };
}

/**
 * 0 when every source message is proven on the destination; 6 when the
 * destination asked to come back later and nothing failed; 1 otherwise (a
 * copy stored changed is not proven). A source that lists a bounded window
 * makes the first run of a mailbox exit 1: it cannot prove it saw the whole
 * mailbox, and the user must learn that older mail may need another way.
 * Later runs (which move what arrives in the window, as a cron job does)
 * exit 0 when every listed message is there, and still say so.
 */
export function summaryExitCode(summary: MigrationSummary): 0 | 1 | 6 {
  if (summary.stopReason === 'run-later' && summary.failed === 0 && summary.storedChanged === 0) return 6;
  const unproven = summary.window !== undefined && !summary.window.reportedBefore;
  return summary.failed > 0 || summary.storedChanged > 0 || summary.stopped !== undefined || unproven ? 1 : 0;
}
