/**
 * The two store interfaces the engine talks to, and the one vocabulary of
 * results they share. Each protocol driver implements one of them (src/pop3
 * a MailSource, src/imap a MailDestination); the engine imports nothing else
 * from a driver, so it can be run, and proven, on in-memory stores.
 *
 * Every method rejects with a PopliftError whose code is in errors.ts's
 * ErrorCode table; isTransient() tells which of those a reconnect may cure.
 */
import type { Listing } from './listing.js';

export type { Listing } from './listing.js';

export interface RetrieveOptions {
  /** Called for a message the source refused to send; without it retrieve rejects. */
  onError?: (n: number, err: Error) => void;
  /** Polled between messages: once true, retrieve resolves without delivering more. */
  stopWhen?: () => boolean;
}

/** What the source says about a message it delivers, besides its bytes. */
export interface RetrievedInfo {
  /**
   * Its length is further from the size the source listed than line ends
   * explain: the source may have sent something other than what it stores.
   */
  sizeSuspect: boolean;
}

/** A message to delete, named as the caller saw it: a source deletes it only while its number still names that id and size. */
export interface DeleteRequest {
  n: number;
  uidl: string;
  size: number;
}

export interface DeleteResult {
  /** Marked for deletion: removed by commit(). */
  marked: number[];
  /** Not marked, with why (the number no longer names that message, the server refused, no answer came). */
  kept: Array<{ n: number; reason: string }>;
  /** The caller asked to stop before every request was sent. */
  stopped: boolean;
}

/** A mailbox messages are read from and, once proven copied, deleted from. */
export interface MailSource {
  /** host:port, as messages name the server. */
  readonly server: string;
  /** Whether readHeaders is cheaper than retrieve (POP3 TOP). */
  readonly readsHeaders: boolean;
  /** Every message's number, size and id as this session sees them. */
  list(): Promise<Listing>;
  /**
   * Each of `numbers`, whole and byte-exact, handed to onMessage in the order
   * given. While a promise returned by onMessage is pending no more are read.
   */
  retrieve(
    numbers: readonly number[],
    onMessage: (n: number, content: Buffer, info: RetrievedInfo) => void | Promise<void>,
    options?: RetrieveOptions,
  ): Promise<void>;
  /** The header section of each of `numbers`, as retrieve delivers messages. */
  readHeaders(
    numbers: readonly number[],
    onHeaders: (n: number, head: Buffer) => void | Promise<void>,
    options?: RetrieveOptions,
  ): Promise<void>;
  /**
   * Marks these messages for deletion, each only after proving its number
   * still names that id and listed size in this session; nothing is removed
   * before commit(). Stops within about a second once stopWhen is true.
   */
  markDeleted(requests: readonly DeleteRequest[], options?: { stopWhen?: () => boolean }): Promise<DeleteResult>;
  /** Ends the session, removing what was marked; the store must be connected again to go on. */
  commit(): Promise<void>;
  /** Undoes what this session marked (deletions, and on some servers the read state). */
  forget(): Promise<void>;
  /** Drops the connection at once: nothing marked is removed. */
  close(): void;
}

/** What the engine needs to know about the destination folder. */
export interface FolderInfo {
  /** The folder's full name as the server knows it (levels joined with its delimiter). */
  path: string;
  /** The same name encoded for the wire. */
  wireName: string;
  exists: boolean;
  uidValidity: bigint | undefined;
  /** undefined when the server accepts any flag. */
  permanentFlags: ReadonlySet<string> | undefined;
  /** Whether new keywords may be created. */
  acceptsNewKeywords: boolean;
  /** The largest message the folder accepts, when the server says. */
  appendLimit: number | undefined;
  /** Whether permanentFlags and appendLimit were read (done only before uploading). */
  flagsKnown: boolean;
  /** How many messages it held and its next UID when it was last looked at (openFolder's STATUS, or inspect). */
  seen?: { messages: number; uidNext: number | undefined };
}

/** The folder's state now, as one STATUS says it. */
export interface FolderStatus {
  uidValidity: bigint;
  uidNext: number;
  messages: number;
}

export interface IndexedMessage {
  uid: number;
  size: number;
}

/** Dedup key -> the destination messages that carry it. */
export type FolderIndex = Map<string, IndexedMessage[]>;

/** One message of the folder as inspect reports it. */
export interface ScannedMessage {
  uid: number;
  size: number;
  /** The header fields asked for, as the server sent them. */
  headers: Buffer;
}

export interface FolderScan {
  fields: readonly string[];
  each(message: ScannedMessage): void;
}

export interface UploadItem {
  content: Buffer;
  flags: readonly string[];
  date: Date | undefined;
}

/**
 * What became of one uploaded message, in the store's words:
 * - stored: the server took it (uid when it said which, RFC 4315);
 * - throttled: refused for now, to be sent again after retryAfterMs;
 * - over-quota: the account is full; nothing more will be taken;
 * - refused: this message was refused (too big, bad flags, ...).
 */
export type UploadOutcome =
  | { outcome: 'stored'; uid: number | undefined; uidValidity: bigint | undefined }
  | { outcome: 'throttled'; retryAfterMs: number; detail: string }
  | { outcome: 'over-quota'; detail: string }
  /** Refused for longer than a run waits (a daily quota, a throttle of many minutes): the next run goes on. */
  | { outcome: 'later'; detail: string }
  | { outcome: 'refused'; detail: string };

/** A folder messages are uploaded into, indexed, and read back from. */
export interface MailDestination {
  readonly server: string;
  /** What the store was recognised as, when that changes how poplift treats it (a hosted provider and why). */
  readonly recognisedAs?: string;
  /** Whether fetchBodies can return messages with NUL bytes as stored. */
  readonly readsBinary: boolean;
  /**
   * Whether the server serves each message rebuilt from what it stored
   * (WildDuck's MIME tree), at the size it computed: an equal size then
   * proves nothing, so verify reads every message whole.
   */
  readonly rebuildsMessages?: boolean;
  /**
   * Looks the folder up by its levels, and creates it when asked to and
   * missing (`knownMissing`: an earlier lookup found no such folder).
   */
  openFolder(levels: readonly string[], create: boolean, knownMissing?: boolean): Promise<FolderInfo>;
  /**
   * One visit to the folder: its flag rules and size limit (with `flags`,
   * before uploading), and with `scan` every message's UID, size and the
   * header fields named, handed over one at a time.
   */
  inspect(folder: FolderInfo, want: { flags: boolean; scan?: FolderScan }): Promise<FolderInfo>;
  /** The names of the account's folders, levels joined with '/' (for telling the user what there is). */
  listFolders(): Promise<string[]>;
  /**
   * The levels of the folder the server marks with this special-use
   * attribute (RFC 6154, e.g. `\Junk`), or undefined when none is marked.
   */
  specialUseFolder?(use: '\\Junk'): Promise<string[] | undefined>;
  /** Whether the folder keeps this flag. */
  acceptsFlag(folder: FolderInfo, flag: string): boolean;
  /** UIDVALIDITY, UIDNEXT and the number of messages as they are now. */
  status(folder: FolderInfo): Promise<FolderStatus | undefined>;
  /** Starts what uploads need (a second connection, a login) so the first upload does not wait for it. */
  prepareUpload(): void;
  /**
   * Uploads a batch; may be called again before an earlier call settled. The
   * outcome of each message is reported separately; a rejection means the
   * outcome of the whole batch is unknown.
   */
  upload(folder: FolderInfo, items: readonly UploadItem[], together: boolean): Promise<UploadOutcome[]>;
  /** The bytes of these UIDs as stored, one at a time; a UID no longer there is not delivered. */
  fetchBodies(folder: FolderInfo, uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void): Promise<void>;
  close(): Promise<void>;
}

/** How the engine reaches both stores; each call opens a new logged-in session. */
export interface StoreEndpoints {
  /** Labels for reports, e.g. pop3s://alice@pop.example.org:995 (never with a password). */
  sourceLabel: string;
  destinationLabel: string;
  /**
   * With `loginAfter`, the connection (and TLS) is made at once and the
   * login waits for it: a server that settles a session only when it ends
   * (Gmail's POP3 window) sees the previous session end first, and the next
   * one costs no round trips of its own before it. A rejection of
   * `loginAfter` ends the attempt with that error.
   */
  connectSource(options?: { loginAfter?: Promise<unknown> }): Promise<MailSource>;
  connectDestination(): Promise<MailDestination>;
}
