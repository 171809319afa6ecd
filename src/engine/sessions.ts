/**
 * The live sessions of one mailbox run: a source session with its listing,
 * a destination session with the folder, and the folder's dedup index. A
 * side that drops is closed and opened again on the next use; withRetries
 * runs a step until it succeeds, reconnecting with backoff.
 */
import { isTransient, type PopliftError } from '../errors.js';
import type { Listing } from '../store/listing.js';
import type { FolderIndex, FolderInfo, MailDestination, MailSource, StoreEndpoints } from '../store/mail-store.js';
import { CopyLookup, type CopyKeys, type FetchCopies, type KnownCopy } from './copy-lookup.js';
import { scanIndex } from './folder-index.js';

export interface RetryPolicy {
  /** Reconnect attempts after a dropped, reset or stalled connection. */
  retries: number;
  /** First backoff delay; doubles per attempt, with jitter. */
  backoffMs: number;
}

export interface RetryHooks {
  warn(message: string): void;
  /** True once retrying is pointless (the user asked to stop). */
  giveUp(): boolean;
  onReconnect(): void;
  /**
   * How many messages are settled: when it grew since the last failure, the
   * reconnect budget starts again (the budget is for a connection that makes
   * no progress, not for a run).
   */
  progress?(): number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs `step` until it succeeds. After a failure a reconnect may cure (and
 * while the budget lasts), `recover` makes the next try possible (it drops
 * the side that failed; what it throws ends the retries) and the next try
 * waits the backoff.
 */
export async function withRetries<T>(
  what: string,
  step: () => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks,
  recover: (err: PopliftError) => Promise<void>,
): Promise<T> {
  let mark = hooks.progress?.();
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      const now = hooks.progress?.();
      if (now !== mark) {
        mark = now;
        attempt = 0;
      }
      if (!isTransient(err) || attempt >= policy.retries || hooks.giveUp()) throw err;
      await recover(err);
      const delay = policy.backoffMs * 2 ** attempt * (0.5 + Math.random());
      hooks.warn(`${err.message} Reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${policy.retries}) to ${what}.`);
      hooks.onReconnect();
      await sleep(delay);
    }
  }
}

export class Sessions {
  private sourceSession: MailSource | undefined;
  private listingValue: Listing | undefined;
  private destinationSession: MailDestination | undefined;
  private folderValue: FolderInfo | undefined;
  private indexValue: FolderIndex | undefined;
  /** What lookups learnt of the folder's copies, while it keeps this UIDVALIDITY (see lookup). */
  private copyKeys: { validity: bigint | undefined; keys: CopyKeys } | undefined;

  constructor(
    private readonly endpoints: StoreEndpoints,
    private readonly levels: readonly string[],
  ) {}

  /** How many messages the folder held, and its next UID, when this run first read it. */
  private firstSeenValue: FolderInfo['seen'];

  get firstSeen(): FolderInfo['seen'] {
    return this.firstSeenValue;
  }

  /** The folder as last seen (it outlives reconnects: its UIDVALIDITY qualifies recorded UIDs). */
  get folder(): FolderInfo | undefined {
    return this.folderValue;
  }

  /** The destination session, when one is open. */
  get openedDestination(): MailDestination | undefined {
    return this.destinationSession;
  }

  /** The source session's listing, when a source session is open. */
  get listing(): Listing | undefined {
    return this.listingValue;
  }

  async openSource(): Promise<{ source: MailSource; listing: Listing }> {
    this.sourceSession ??= await this.endpoints.connectSource();
    this.listingValue ??= await this.sourceSession.list();
    return { source: this.sourceSession, listing: this.listingValue };
  }

  /** The destination session and the folder, created when `create` is set and it is missing. */
  async openDestination(create = false): Promise<{ destination: MailDestination; folder: FolderInfo }> {
    this.destinationSession ??= await this.endpoints.connectDestination();
    if (!this.folderValue?.exists) {
      const knownMissing = this.folderValue !== undefined && !this.folderValue.exists;
      this.folderValue = await this.destinationSession.openFolder(this.levels, create, knownMissing);
      // A folder created for uploading may come back already read (selected at once).
      if (this.folderValue.exists) this.firstSeenValue ??= this.folderValue.seen;
      this.indexValue = undefined;
    }
    return { destination: this.destinationSession, folder: this.folderValue };
  }

  /**
   * The folder's dedup index (when `index`) and, with `flags`, its flag rules
   * read too: one visit to the folder. Kept until forgetIndex or a reconnect.
   */
  async folderIndex(want: { index: boolean; flags: boolean; create?: boolean }): Promise<FolderIndex> {
    const { destination, folder } = await this.openDestination(want.create);
    const needFlags = want.flags && !folder.flagsKnown;
    const needIndex = want.index && this.indexValue === undefined;
    if (!needFlags && !needIndex) return this.indexValue ?? new Map();
    const index: FolderIndex = new Map();
    const scan = needIndex ? scanIndex(index) : undefined;
    this.folderValue = await destination.inspect(folder, { flags: needFlags, scan });
    this.firstSeenValue ??= this.folderValue.seen;
    if (needIndex) this.indexValue = index;
    return this.indexValue ?? new Map();
  }

  /**
   * Finds messages' copies in `index` (see CopyLookup), fetching candidates
   * through the destination session open at the time; what was learnt of a
   * copy is kept for the run while the folder keeps its UIDVALIDITY.
   */
  lookup(index: FolderIndex): CopyLookup {
    const validity = this.folderValue?.uidValidity;
    const prior = this.copyKeys;
    const known: CopyKeys = prior !== undefined && prior.validity === validity ? prior.keys : new Map<number, KnownCopy>();
    this.copyKeys = { validity, keys: known };
    const fetch: FetchCopies = async (uids, binary, each) => {
      const { destination, folder } = await this.openDestination();
      await destination.fetchBodies(folder, uids, binary && destination.readsBinary, each);
    };
    const readsBinary = async () => (await this.openDestination()).destination.readsBinary;
    return new CopyLookup(index, fetch, known, readsBinary);
  }

  /** The next folderIndex reads the folder again (to confirm this run's uploads). */
  forgetIndex(): void {
    this.indexValue = undefined;
  }

  /** Commits what the source session marked and ends it. */
  async commitSource(): Promise<void> {
    const source = this.sourceSession;
    this.sourceSession = undefined;
    this.listingValue = undefined;
    try {
      await source?.commit();
    } catch (err) {
      source?.close();
      throw err;
    }
  }

  /**
   * Commits the source session and opens the next one: its connection is
   * made while the commit is under way, and its login waits for the commit
   * (see StoreEndpoints.connectSource).
   */
  async renewSource(): Promise<{ source: MailSource; listing: Listing }> {
    const committing = this.commitSource();
    const next = this.endpoints.connectSource({ loginAfter: committing });
    // A failed commit fails the next login too; its error is the commit's, reported once.
    next.catch(() => undefined);
    await committing;
    this.sourceSession = await next;
    this.listingValue = await this.sourceSession.list();
    return { source: this.sourceSession, listing: this.listingValue };
  }

  closeSource(): void {
    this.sourceSession?.close();
    this.sourceSession = undefined;
    this.listingValue = undefined;
  }

  async closeDestination(): Promise<void> {
    const destination = this.destinationSession;
    this.destinationSession = undefined;
    this.indexValue = undefined;
    await destination?.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    this.closeSource();
    await this.closeDestination();
  }

  /** Runs `step` until it succeeds, reconnecting the side that failed with backoff. */
  withRetries<T>(what: string, step: () => Promise<T>, policy: RetryPolicy, hooks: RetryHooks): Promise<T> {
    return withRetries(what, step, policy, hooks, (err) => this.dropSide(err));
  }

  private async dropSide(err: PopliftError): Promise<void> {
    if (err.side === 'POP3') this.closeSource();
    else await this.closeDestination();
  }
}
