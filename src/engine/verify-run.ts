/**
 * One folder's check by `poplift verify` (see verify.ts) as one object: the
 * sessions, the listing and the folder's index, the report being written,
 * and the messages held until their copies are judged. The steps
 * (verify-list.ts, verify-read.ts, verify-judge.ts) read and advance it.
 */
import type { CopyDigests } from '../message/copy-rule.js';
import { readableHeader } from '../message/display.js';
import { firstHeader, type HeaderField } from '../message/headers.js';
import type { Listing } from '../store/listing.js';
import type { FolderIndex, FolderInfo, IndexedMessage, MailDestination, MailSource, StoreEndpoints } from '../store/mail-store.js';
import type { CopyLookup } from './copy-lookup.js';
import { withRetries } from './sessions.js';
import {
  emptyReport,
  type FolderCheck,
  type ServerChange,
  type VerifyHooks,
  type VerifyProblem,
  type VerifyReport,
} from './verify-report.js';

/** What names a source message in a report. */
export interface Described {
  uidl: string;
  number: number;
  subject: string | undefined;
  date: string | undefined;
}

/** The best a candidate copy did under the copy rule. */
export type Judged =
  | { verdict: 'identical'; uid: number }
  | { verdict: 'server-changed'; uid: number; changes: ServerChange[] }
  | { verdict: 'different'; uid: number; exact: string };

/** A message held, with its bytes, until its candidate copies have been fetched and judged. */
export interface Pending extends Described {
  size: number;
  key: string;
  content: Buffer;
  digests: CopyDigests;
  copies: IndexedMessage[];
  nul: boolean;
  /** Whether BINARY[] would return it as stored: it has no base64 or quoted-printable part, which BINARY decodes. */
  binarySafe: boolean;
  /** Its key is a fallback key: `copies` share its header fields, and only their bytes can tell which is its copy. */
  byHeadersOnly: boolean;
  judged: Judged | undefined;
  /** A copy with its lines in another order (CopyLookup.rebuilt), once one was fetched. */
  rebuiltUid?: number;
  /** movedLinesDigest of `content`, once needed. */
  moved?: string;
}

/** New destination sessions in a row, without a message fetched between them, before a fetch gives up. */
const FETCH_RECONNECTS = 3;

export class VerifyRun {
  readonly started = performance.now();
  readonly report: VerifyReport;
  /** The source session, while one is open (the finally of verifyFolder closes it). */
  source: MailSource | undefined;
  /** The destination session, while one is open. */
  destination: MailDestination | undefined;
  /** The folder as the current destination session opened it (a new session opens it again). */
  openFolder: FolderInfo | undefined;
  /** False once the folder was deleted or recreated: its UIDs no longer name the indexed copies. */
  comparable = true;
  /** The source's listing (set by listSource). */
  listing!: Listing;
  /** The folder's index, and its copies found by key (set by indexFolder). */
  index!: FolderIndex;
  lookup!: CopyLookup;
  /** Whether every message is judged by its bytes (--deep, or a server that rebuilds messages). */
  deep = false;
  /** Whether the source is read by headers first (TOP), whole messages only where needed. */
  useTop = false;
  /** Messages held until their copies are fetched and judged, and their bytes. */
  batch: Pending[] = [];
  batchBytes = 0;
  /**
   * Reading whole messages without TOP, the keys are known only as they come: a message a copy of its
   * size would settle waits, by number, until every key is known.
   */
  readonly waiting = new Map<string, number[]>();
  /** Set for the second reading of the messages whose key turned out shared: each is judged by its bytes. */
  judgeEvery = false;
  /** The number a message had in the first source session, from its number in the current one. */
  numberOf: (n: number) => number = (n) => n;
  /**
   * A Message-ID is a claim: distinct messages may share one (every reading of a sensor), and then a
   * copy with the key and the size may be another of them. A message whose Message-ID key other
   * source messages carry too is judged by its bytes, never settled by its size.
   */
  private readonly keyCount = new Map<string, number>();

  constructor(
    readonly endpoints: StoreEndpoints,
    readonly options: FolderCheck,
    readonly hooks: VerifyHooks,
    /** The junk folder's check: a folder that does not exist holds none of the messages, and that is all. */
    readonly missingFolderIsOk: boolean,
  ) {
    this.report = emptyReport(endpoints, options);
  }

  warn(message: string): void {
    this.report.warnings.push(message);
    this.hooks.warn(message);
  }

  problem(p: Omit<VerifyProblem, 'detail'>, detail: string): void {
    this.report.problems.push({ ...p, detail });
    if (p.problem === 'altered') this.report.altered++;
    else this.report.missing++;
  }

  uidlOf(n: number): string {
    return this.listing.uidlOf(n)!;
  }

  listSize(n: number): number {
    return this.listing.size(this.uidlOf(n))!;
  }

  describe(n: number, fields: HeaderField[]): Described {
    return {
      uidl: this.uidlOf(n),
      number: n,
      subject: readableHeader(firstHeader(fields, 'subject')),
      date: readableHeader(firstHeader(fields, 'date')),
    };
  }

  /** Reports message `n` (of the first session) as one the source would not send. */
  unreadable(n: number, err: Error): void {
    this.problem(
      {
        problem: 'unreadable',
        uidl: this.uidlOf(n),
        number: n,
        size: this.listSize(n),
        key: undefined,
        subject: undefined,
        date: undefined,
        copies: [],
      },
      err.message,
    );
  }

  /** Counts a source message's key (see keyCount). */
  count(key: string): void {
    if (key.startsWith('mid:')) this.keyCount.set(key, (this.keyCount.get(key) ?? 0) + 1);
  }

  /** Whether other source messages carry this Message-ID key too. */
  shared(key: string): boolean {
    return (this.keyCount.get(key) ?? 0) > 1;
  }

  /**
   * The destination session may have sat idle while the source was read, which can take longer than a server's
   * inactivity timeout (minutes with a slow source): when it is gone a new session opens the folder.
   */
  async reconnect(): Promise<void> {
    const lost = this.destination;
    this.destination = undefined;
    await lost?.close().catch(() => undefined);
    this.destination = await this.endpoints.connectDestination();
    const again = await this.destination.openFolder(this.options.folder, false);
    if (again.exists && again.uidValidity === this.openFolder!.uidValidity) {
      this.openFolder = again;
      return;
    }
    // The UIDs of the index name nothing, or other messages, in a folder that was deleted or recreated.
    this.comparable = false;
    this.warn(
      `IMAP folder '${this.report.folder}' was ${again.exists ? 'recreated (its UIDVALIDITY changed)' : 'deleted'} during the check: its copies could not be compared; run verify again.`,
    );
  }

  /**
   * Each of `uids` still in the folder, handed to `each` once, over a new session when the current one
   * drops: the retry loop of migrate's sessions (sessions.ts withRetries), without a pause or a warning,
   * whose budget starts again once a session delivered something.
   */
  async fetchCopies(uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void): Promise<void> {
    const delivered = new Set<number>();
    let left = [...new Set(uids)];
    await withRetries(
      'fetch the copies',
      async () => {
        left = left.filter((uid) => !delivered.has(uid));
        if (left.length === 0 || !this.comparable) return;
        await this.destination!.fetchBodies(this.openFolder!, left, binary, (uid, content) => {
          if (delivered.has(uid)) return;
          delivered.add(uid);
          each(uid, content);
        });
      },
      { retries: FETCH_RECONNECTS, backoffMs: 0 },
      { warn: () => undefined, giveUp: () => false, onReconnect: () => undefined, progress: () => delivered.size },
      () => this.reconnect(),
    );
  }
}
