/**
 * One part of a migrate run (see migrate.ts) as one object: what the run was
 * asked, the sessions, the outcome table with its ledger, and what the steps
 * (migrate-plan.ts, migrate-passes.ts, migrate-report.ts) learn and decide on
 * the way. Each step reads and advances this state; nothing of it lives in
 * closures.
 */
import type { JournalState, JournalWriter } from '../state/journal.js';
import type { Listing } from '../store/listing.js';
import type { FolderIndex, FolderInfo, FolderStatus, MailDestination, StoreEndpoints } from '../store/mail-store.js';
import type { UnknownUpload } from './dedup-index.js';
import type { FolderWatch } from './folder-watch.js';
import { Ledger } from './ledger.js';
import { PoisonTracker } from './poison.js';
import { Sessions, type RetryHooks } from './sessions.js';
import { SettledMessages } from './settled.js';
import { StopSignal } from './stop-signal.js';
import { emptySummary, type FailureReport, type MigrationSummary } from './summary.js';
import type { TransferOptions } from './transfer-context.js';

export interface MigrateOptions extends TransferOptions {
  /** Destination folder, split into levels on '/'. */
  folder: string[];
  /** Reconnect attempts after a dropped, reset or stalled connection. */
  retries: number;
  /** First backoff delay; doubles per attempt, with jitter. */
  backoffMs: number;
  delete: boolean;
  /** Deletions committed per source session. */
  deleteEvery: number;
  /**
   * Most source sessions a run opens: a source that lists only part of the
   * mailbox per session (Gmail's POP3 window) shows the rest in later ones.
   */
  maxSessions: number;
  /**
   * Look for more in further sessions whatever the first listing shows (the
   * user set --max-sessions). Otherwise a further session is opened only
   * when something shows the source may list more in it (furtherSessionsNeeded).
   */
  lookForMore?: boolean;
  journal: { state: JournalState; writer: JournalWriter | undefined } | undefined;
  /** Try again the messages the server dropped the connection on in the last runs (otherwise skipped). */
  retryFailed?: boolean;
  /**
   * Copy again the messages an earlier run copied whose copy is no longer in
   * the folder. Off by default: in a folder bridged from cron for months,
   * those are mostly the user's own deletions.
   */
  recopyMissing?: boolean;
  /** Where messages the source's spam filter marked go (--junk); undefined: with the rest. */
  junk?: JunkRouting;
}

/**
 * Junk routing: a message whose own header fields say the source's spam
 * filter marked it (message/spam-verdict.ts) goes into the junk folder. The
 * run moves the other messages into the folder first, then the marked ones
 * into the junk folder in a second part over new sessions, with that
 * folder's own journal, proofs and deletions: each folder is handled exactly
 * as a run into it alone would be.
 */
export interface JunkRouting {
  /** The junk folder's levels, or 'auto': the destination's folder with the \Junk special-use attribute (RFC 6154). */
  folder: readonly string[] | 'auto';
  /** The junk folder's journal, once its name is known (undefined: none, as in a dry run). */
  journal(levels: readonly string[]): MigrateOptions['journal'];
}

export interface ProgressEvent {
  found: number;
  totalBytes: number;
  done: number;
  doneBytes: number;
}

export interface MigrateHooks {
  warn(message: string): void;
  onListed?(event: ProgressEvent): void;
  onProgress?(event: ProgressEvent): void;
  /** Called as each message fails (the summary lists them all again at the end). */
  onFailure?(failure: FailureReport): void;
  /** Polled between messages: true once the user asked poplift to stop (SIGINT/SIGTERM). */
  stopRequested?(): boolean;
}

/** The junk folder of this run, as the main part found it. */
export interface JunkLane {
  levels: string[];
  journal: MigrateOptions['journal'];
}

/** Where the main part sends marked messages. */
export interface Routing {
  lane: JunkLane | undefined;
  /** Without a lane: why marked messages stay in the folder, told once when this run put any there. */
  whyNot?: string;
}

/** What one part of a run (the folder, or the junk folder) is told besides the options. */
export interface Part {
  /** The main part with --junk: finds the junk folder once logged in (undefined: no routing). */
  route?: (destination: MailDestination) => Promise<Routing>;
  /** The junk part: moves only these ids (those the main part routed, and those the junk journal knows). */
  only?: ReadonlySet<string>;
  /** Of `only`, the ids the main part routed in this run: each must be moved, or the run is incomplete. */
  routed?: ReadonlySet<string>;
}

export interface PartResult {
  summary: MigrationSummary;
  /** Ids routed to the junk folder by this part. */
  routed: string[];
  /** Listed ids the junk folder's journal vouches for (the main part did not read them). */
  vouchedThere: string[];
  lane: JunkLane | undefined;
}

/** Both sides as the logins found them (see login in migrate-plan.ts). */
export interface Opened {
  /** The first source session's listing. */
  first: Listing;
  /** The source server, as messages name it. */
  sourceServer: string;
  destination: MailDestination;
  /** The folder as the first destination session opened it. */
  folder: FolderInfo;
}

export class MigrateRun {
  readonly started = performance.now();
  readonly summary: MigrationSummary;
  readonly stop: StopSignal;
  readonly journal: MigrateOptions['journal'];
  readonly sessions: Sessions;
  readonly progress: ProgressEvent = { found: 0, totalBytes: 0, done: 0, doneBytes: 0 };
  readonly ledger: Ledger;
  /** Listed sizes of the messages first seen in a later source session. */
  readonly laterSizes = new Map<string, number>();
  /** Those of them the later session identified (Listing.identified). */
  readonly laterIdentified = new Set<string>();
  /** Uploads cut off before the server answered: found on the destination later, they count as appended. */
  readonly unknown = new Set<string>();
  readonly unknownUploads = new Map<string, UnknownUpload>();
  /** Keys of the messages the journal says are in the folder at a UID it does not know. */
  unplaced: Set<string> | undefined;
  /**
   * Whether the destination is known to store messages changed: it says so
   * (WildDuck), or an earlier run or this one found a copy changed beyond
   * the copy rule (see sentFrom in migrate-passes.ts).
   */
  changesCopies = false;
  readonly poison: PoisonTracker;
  /** Ids that disappeared from the source during the run (another client deleted them). */
  readonly vanished = new Set<string>();
  /** The junk folder (main part with --junk, once the destination named it). */
  lane: JunkLane | undefined;
  /** Listed ids the junk folder's journal vouches for. */
  readonly vouchedElsewhere: string[] = [];

  /** Marked messages this part put into the folder for want of a junk folder. */
  kept = 0;
  /** Without a junk folder: why marked messages stay in the folder (Routing.whyNot). */
  whyNot: string | undefined;
  /** Whether a message goes to another folder (TransferContext.elsewhere). */
  elsewhere: ((content: Buffer) => boolean) | undefined;
  /** The ids this part moves, in the order listed: those planned, then those later sessions listed. */
  readonly fresh: string[] = [];
  /** Whether the folder shows an expunge since the journal's record of it. */
  expunged = false;
  /** Whether the folder's UIDVALIDITY was recorded in the journal (noteFolder). */
  private folderNoted = false;
  /** The folder index the passes use, and the watch for another writer since it was read. */
  readonly watched: { index: FolderIndex | undefined; watch: FolderWatch | undefined } = { index: undefined, watch: undefined };
  /** The confirmation of every upload of the run, once made. */
  confirmation: { status: FolderStatus | undefined } | undefined;

  private readonly warned = new Set<string>();
  private readonly retryHooks: RetryHooks;

  constructor(
    endpoints: StoreEndpoints,
    readonly options: MigrateOptions,
    readonly hooks: MigrateHooks,
    readonly part: Part,
  ) {
    this.summary = emptySummary(endpoints.sourceLabel, endpoints.destinationLabel, options.folder.join('/'), options.dryRun);
    this.stop = new StopSignal(() => hooks.stopRequested?.() ?? false);
    this.journal = options.journal;
    this.sessions = new Sessions(endpoints, options.folder);
    this.retryHooks = {
      warn: (message) => hooks.warn(message),
      giveUp: () => this.stop.userRequested,
      onReconnect: () => this.summary.reconnects++,
      progress: () => this.ledger.settled.size,
    };
    const settled = new SettledMessages();
    this.ledger = new Ledger(
      settled,
      this.summary,
      this.journal?.writer,
      {
        onFailure: (failure) => hooks.onFailure?.(failure),
        advance: (bytes) => {
          this.progress.done++;
          this.progress.doneBytes += bytes;
          hooks.onProgress?.({ ...this.progress });
        },
      },
      () => this.sessions.folder?.uidValidity,
      (uidl) => settled.listing?.size(uidl) ?? this.laterSizes.get(uidl),
      (uidl) => (settled.listing?.has(uidl) ? settled.listing.identified(uidl) : this.laterIdentified.has(uidl)),
    );
    this.poison = new PoisonTracker(options.retries, () => this.ledger.settled.size);
  }

  /** Warns once per `key`, in the summary and through the hooks. */
  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.summary.warnings.push(message);
    this.hooks.warn(message);
  }

  /** Runs `step` until it succeeds, reconnecting the side that failed (Sessions.withRetries). */
  withRetries<T>(what: string, step: () => Promise<T>): Promise<T> {
    return this.sessions.withRetries(what, step, this.options, this.retryHooks);
  }

  /**
   * Records the folder's UIDVALIDITY before the first upload: if the folder is recreated after
   * a crash, the next run sees another one and trusts none of what the journal says was copied into it.
   */
  noteFolder(folder: FolderInfo): void {
    if (this.folderNoted || folder.uidValidity === undefined) return;
    this.folderNoted = true;
    if (this.journal?.state.folder?.uidValidity !== String(folder.uidValidity)) this.ledger.folder(folder.uidValidity);
  }

  /** Whether this part moves the message at all (the junk part moves only its own). */
  mine(uidl: string): boolean {
    return this.part.only === undefined || this.part.only.has(uidl);
  }
}
