/**
 * An IMAP-like account in memory, behind the MailDestination interface.
 * The account (MemoryImapServer) is the server's state and outlives
 * sessions: folders with a UIDVALIDITY, UIDs handed out in order, and each
 * message's bytes, flags and internal date. Each MemoryDestination is one
 * logged-in session.
 *
 * Faults are declared on `server.faults` and consumed as they fire. A drop
 * during an upload leaves its outcome unknown to the client, as a lost
 * APPEND reply does: the message may have been stored (`stored: true`) or
 * not.
 */
import { PopliftError, type ErrorCodeValue } from '../../src/errors.js';
import { headerBlock } from '../../src/message/headers.js';
import type { FolderInfo, FolderScan, FolderStatus, MailDestination, UploadItem, UploadOutcome } from '../../src/store/mail-store.js';

/** Where one session's connection drops: before it completes more than this many uploads, octets or commands. */
export interface UploadDrop {
  afterUploads?: number;
  afterBytes?: number;
  afterCommands?: number;
  /** When the drop hits an upload: whether the server stored that message before the reply was lost. */
  stored?: boolean;
}

export interface AccountFaults {
  /** One entry per session, in the order sessions open; undefined lets that session run clean. */
  drops: Array<UploadDrop | undefined>;
  /** Connection attempts still to fail before the greeting (transient). */
  failConnects: number;
  /** Every login is refused (not transient). */
  refuseLogin: boolean;
  /** CREATE is refused (not transient). */
  refuseCreate: boolean;
  /** Uploads still to be answered 'throttled', asking for a wait of throttleMs. */
  throttle: number;
  /** Uploads still to be answered 'later' (a daily quota reached). */
  later: number;
  throttleMs: number;
  /** Uploads still to be refused, whatever they hold. */
  refuseNext: number;
  /** Messages whose upload always loses the connection before the server answers, storing nothing. */
  killers: (content: Buffer) => boolean;
  /** Messages always refused. */
  refuse: (content: Buffer) => boolean;
  /** The account holds at most this many octets; an upload past it is over quota. */
  quotaBytes: number | undefined;
  /**
   * Non-atomic MULTIAPPEND (RFC 3502 forbids it; servers do it): each entry
   * is consumed by the next upload of two or more messages sent together,
   * which stores its first K messages and then answers 'refused' for all.
   */
  partialBatches: number[];
  /** Uploads still to be answered 'stored' while nothing is stored. */
  lostNext: number;
  /** Whether such an answer carries a UID (handed out, so UIDNEXT moves) or none. */
  lostWithUid: boolean;
  /**
   * Uploads still to be answered 'stored' with the UID of a message already
   * in the folder (the oldest first, in turn), while nothing is stored and
   * UIDNEXT does not move: an APPENDUID that lies.
   */
  lyingUids: number;
  /** Reading the folder's index drops the connection once the folder holds this many messages. */
  scanDropsFrom: number | undefined;
}

export interface StoredMessage {
  uid: number;
  content: Buffer;
  flags: string[];
  date: Date;
}

export interface MemoryFolder {
  uidValidity: bigint;
  uidNext: number;
  messages: StoredMessage[];
}

export interface AccountOptions {
  server?: string;
  /** Whether APPEND answers carry the new UID (RFC 4315); default true. */
  uidPlus?: boolean;
  /** Whether FETCH BINARY[] is offered; default true. */
  readsBinary?: boolean;
  /** PERMANENTFLAGS; undefined: any flag is kept. */
  permanentFlags?: readonly string[];
  acceptsNewKeywords?: boolean;
  /** APPENDLIMIT, when the server announces one. */
  appendLimit?: number;
  /** What the server does to a message it stores (CRs deleted, header bytes rewritten, fields added). */
  onStore?: (content: Buffer) => Buffer;
  /** Whether the store says it serves messages rebuilt from what it stored (MailDestination.rebuildsMessages). */
  rebuildsMessages?: boolean;
  /** Folders LIST marks with a special-use attribute (RFC 6154), e.g. { '\\Junk': 'Spam' }. */
  specialUse?: Record<string, string>;
}

function imapError(server: string, code: ErrorCodeValue, message: string): PopliftError {
  return new PopliftError(`IMAP server ${server} ${message}`, { side: 'IMAP', server, code });
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

const SYSTEM_FLAGS = new Set(['\\SEEN', '\\ANSWERED', '\\FLAGGED', '\\DELETED', '\\DRAFT']);

/** A literal cannot carry NUL (RFC 3501 §4.3): outside BINARY, servers send something else, Dovecot 0x80. */
function withoutNul(content: Buffer): Buffer {
  return content.includes(0) ? Buffer.from(content.map((b) => (b === 0 ? 0x80 : b))) : content;
}

/** The server's side: folders and their messages, across sessions. */
export class MemoryImapServer {
  readonly server: string;
  readonly options: Required<Pick<AccountOptions, 'uidPlus' | 'readsBinary' | 'acceptsNewKeywords'>> & AccountOptions;
  readonly faults: AccountFaults = {
    drops: [],
    failConnects: 0,
    refuseLogin: false,
    refuseCreate: false,
    throttle: 0,
    later: 0,
    throttleMs: 1,
    refuseNext: 0,
    refuse: () => false,
    killers: () => false,
    quotaBytes: undefined,
    partialBatches: [],
    lostNext: 0,
    lostWithUid: true,
    lyingUids: 0,
    scanDropsFrom: undefined,
  };
  /** How many lying APPENDUIDs were answered (which existing message the next one names). */
  lies = 0;
  readonly folders = new Map<string, MemoryFolder>();
  /** Folders created by a client, in order. */
  readonly created: string[] = [];
  sessionsOpened = 0;
  /** APPENDs answered (whatever the answer), over all sessions. */
  appends = 0;
  /** Uploads that lost the connection through `faults.killers`. */
  kills = 0;
  /** Folder reads with a scan (index FETCHes) and STATUS commands, over all sessions. */
  scans = 0;
  statuses = 0;
  private nextValidity = 1000n;

  constructor(options: AccountOptions = {}) {
    this.server = options.server ?? 'imap.memory:143';
    this.options = { uidPlus: true, readsBinary: true, acceptsNewKeywords: true, ...options };
  }

  /** A folder made outside any session (for a test's starting state). */
  addFolder(path: string, messages: readonly Buffer[] = []): MemoryFolder {
    const folder: MemoryFolder = { uidValidity: this.nextValidity++, uidNext: 1, messages: [] };
    this.folders.set(path, folder);
    for (const content of messages) this.store(folder, { content, flags: [], date: undefined });
    return folder;
  }

  /** Deletes and creates the folder again: a new UIDVALIDITY, no messages. */
  recreate(path: string): MemoryFolder {
    this.folders.delete(path);
    return this.addFolder(path);
  }

  /** Every message of every folder, for invariants. */
  allMessages(): StoredMessage[] {
    return [...this.folders.values()].flatMap((f) => f.messages);
  }

  storedBytes(): number {
    return this.allMessages().reduce((n, m) => n + m.content.length, 0);
  }

  store(folder: MemoryFolder, item: UploadItem): StoredMessage {
    const message: StoredMessage = {
      uid: folder.uidNext++,
      content: Buffer.from(this.options.onStore ? this.options.onStore(item.content) : item.content),
      flags: [...item.flags],
      date: item.date ?? new Date(),
    };
    folder.messages.push(message);
    return message;
  }

  async connect(): Promise<MemoryDestination> {
    await tick();
    if (this.faults.failConnects > 0) {
      this.faults.failConnects--;
      throw imapError(this.server, 'IMAP_CONNECT', 'refused the connection (ECONNREFUSED): check the IMAP host and port.');
    }
    if (this.faults.refuseLogin) throw imapError(this.server, 'IMAP_AUTH', 'refused the login: check the IMAP user and password.');
    this.sessionsOpened++;
    return new MemoryDestination(this, this.faults.drops.shift());
  }

  folderInfo(path: string): FolderInfo {
    const folder = this.folders.get(path);
    return {
      path,
      wireName: path,
      exists: folder !== undefined,
      uidValidity: folder?.uidValidity,
      permanentFlags: undefined,
      acceptsNewKeywords: true,
      appendLimit: undefined,
      flagsKnown: false,
      ...(folder ? { seen: { messages: folder.messages.length, uidNext: folder.uidNext } } : {}),
    };
  }
}

/** One logged-in session. */
export class MemoryDestination implements MailDestination {
  readonly server: string;
  private lost: PopliftError | undefined;
  private closed = false;
  private commands = 0;
  private uploads = 0;
  private bytes = 0;
  private uploading: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly account: MemoryImapServer,
    private readonly drop: UploadDrop | undefined,
  ) {
    this.server = account.server;
  }

  get readsBinary(): boolean {
    return this.account.options.readsBinary;
  }

  get rebuildsMessages(): boolean {
    return this.account.options.rebuildsMessages === true;
  }

  async openFolder(levels: readonly string[], create: boolean): Promise<FolderInfo> {
    await this.command();
    const path = levels.join('/');
    if (create && !this.account.folders.has(path)) {
      if (this.account.faults.refuseCreate) throw imapError(this.server, 'IMAP_FOLDER', `refused to create the folder '${path}'.`);
      await this.command();
      this.account.addFolder(path);
      this.account.created.push(path);
    }
    return this.account.folderInfo(path);
  }

  async inspect(folder: FolderInfo, want: { flags: boolean; scan?: FolderScan }): Promise<FolderInfo> {
    if (!folder.exists) return folder;
    await this.command();
    if (want.scan) this.account.scans++;
    const stored = this.account.folders.get(folder.path);
    if (stored === undefined) throw imapError(this.server, 'IMAP_PROTOCOL', `answered SELECT "${folder.path}" with NO [NONEXISTENT].`);
    let info: FolderInfo = {
      ...folder,
      uidValidity: stored.uidValidity,
      seen: { messages: stored.messages.length, uidNext: stored.uidNext },
    };
    if (want.flags) {
      const { permanentFlags, acceptsNewKeywords, appendLimit } = this.account.options;
      info = { ...info, permanentFlags: permanentFlags && new Set(permanentFlags), acceptsNewKeywords, appendLimit, flagsKnown: true };
    }
    if (want.scan) {
      const dropsFrom = this.account.faults.scanDropsFrom;
      if (dropsFrom !== undefined && stored.messages.length >= dropsFrom)
        throw this.lose('dropped the connection while the folder was read');
      for (const m of [...stored.messages]) {
        // The whole header section stands in for HEADER.FIELDS: the scan reads only the fields it asked for.
        want.scan.each({ uid: m.uid, size: m.content.length, headers: withoutNul(Buffer.from(headerBlock(m.content))) });
      }
    }
    return info;
  }

  async listFolders(): Promise<string[]> {
    await this.command();
    return [...this.account.folders.keys()].sort();
  }

  async specialUseFolder(use: '\\Junk'): Promise<string[] | undefined> {
    await this.command();
    const path = this.account.options.specialUse?.[use];
    return path === undefined || !this.account.folders.has(path) ? undefined : path.split('/');
  }

  acceptsFlag(folder: FolderInfo, flag: string): boolean {
    if (!folder.permanentFlags) return true;
    for (const f of folder.permanentFlags) if (f.toUpperCase() === flag.toUpperCase()) return true;
    if (SYSTEM_FLAGS.has(flag.toUpperCase())) return false;
    return folder.acceptsNewKeywords;
  }

  async status(folder: FolderInfo): Promise<FolderStatus | undefined> {
    await this.command();
    this.account.statuses++;
    const stored = this.account.folders.get(folder.path);
    return stored && { uidValidity: stored.uidValidity, uidNext: stored.uidNext, messages: stored.messages.length };
  }

  prepareUpload(): void {}

  upload(folder: FolderInfo, items: readonly UploadItem[], together: boolean): Promise<UploadOutcome[]> {
    // One upload connection: batches are stored in the order they were sent, never interleaved.
    const run = this.uploading.then(async () => {
      const outcomes: UploadOutcome[] = [];
      const partial = together && items.length > 1 ? this.account.faults.partialBatches.shift() : undefined;
      if (partial !== undefined) {
        for (const item of items.slice(0, partial)) {
          if ((await this.append(folder.path, item)).outcome !== 'stored') break;
        }
        return items.map(() => ({ outcome: 'refused' as const, detail: 'NO [SERVERBUG] MULTIAPPEND failed part way' }));
      }
      for (const item of items) outcomes.push(await this.append(folder.path, item));
      return outcomes;
    });
    this.uploading = run.catch(() => undefined);
    return run;
  }

  async fetchBodies(
    folder: FolderInfo,
    uids: readonly number[],
    binary: boolean,
    each: (uid: number, content: Buffer) => void,
  ): Promise<void> {
    await this.command();
    const stored = this.account.folders.get(folder.path);
    const wanted = new Set(uids);
    for (const m of stored?.messages ?? []) {
      if (!wanted.has(m.uid)) continue;
      const content = Buffer.from(m.content);
      each(m.uid, binary && this.readsBinary ? content : withoutNul(content));
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private async append(path: string, item: UploadItem): Promise<UploadOutcome> {
    const { account } = this;
    const faults = account.faults;
    const drop = this.drop;
    const size = item.content.length;
    await this.roundTrip();
    const cutOff =
      (drop?.afterUploads !== undefined && this.uploads >= drop.afterUploads) ||
      (drop?.afterBytes !== undefined && this.bytes + size > drop.afterBytes) ||
      (drop?.afterCommands !== undefined && this.commands >= drop.afterCommands);
    const folder = account.folders.get(path);
    if (faults.killers(item.content)) {
      account.kills++;
      throw this.lose('closed the connection before answering APPEND (not stored)');
    }
    if (cutOff) {
      if (drop.stored && folder) account.store(folder, item);
      throw this.lose(`closed the connection before answering APPEND (${drop.stored ? 'stored' : 'not stored'})`);
    }
    this.commands++;
    this.uploads++;
    this.bytes += size;
    account.appends++;
    if (folder === undefined) return { outcome: 'refused', detail: `NO [TRYCREATE] Mailbox doesn't exist: ${path}` };
    if (faults.later > 0) {
      faults.later--;
      return {
        outcome: 'later',
        detail: 'daily quota reached (IMAP server imap.memory:143: NO [OVERQUOTA]): what is done is recorded; run again in a few hours.',
      };
    }
    if (faults.throttle > 0) {
      faults.throttle--;
      return {
        outcome: 'throttled',
        retryAfterMs: faults.throttleMs,
        detail: `NO Request is throttled. Suggested Backoff Time: ${faults.throttleMs} milliseconds`,
      };
    }
    if (faults.refuseNext > 0 || faults.refuse(item.content)) {
      if (faults.refuseNext > 0) faults.refuseNext--;
      return { outcome: 'refused', detail: 'NO Message refused' };
    }
    const limit = account.options.appendLimit;
    if (limit !== undefined && size > limit) return { outcome: 'refused', detail: `NO [TOOBIG] Message over ${limit} octets` };
    if (faults.quotaBytes !== undefined && account.storedBytes() + size > faults.quotaBytes) {
      return { outcome: 'over-quota', detail: 'NO [OVERQUOTA] Quota exceeded (mailbox for user is full)' };
    }
    if (faults.lyingUids > 0 && folder.messages.length > 0) {
      faults.lyingUids--;
      const named = folder.messages[account.lies++ % folder.messages.length]!;
      return { outcome: 'stored', uid: named.uid, uidValidity: folder.uidValidity };
    }
    if (faults.lostNext > 0) {
      faults.lostNext--;
      const withUid = account.options.uidPlus && faults.lostWithUid;
      return withUid
        ? { outcome: 'stored', uid: folder.uidNext++, uidValidity: folder.uidValidity }
        : { outcome: 'stored', uid: undefined, uidValidity: undefined };
    }
    const stored = account.store(folder, item);
    return {
      outcome: 'stored',
      uid: account.options.uidPlus ? stored.uid : undefined,
      uidValidity: account.options.uidPlus ? folder.uidValidity : undefined,
    };
  }

  /** One command's round trip; a session that has lost its connection fails every command with that error. */
  private async command(): Promise<void> {
    await this.roundTrip();
    if (this.drop?.afterCommands !== undefined && this.commands >= this.drop.afterCommands) {
      throw this.lose(`closed the connection after ${this.commands} commands`);
    }
    this.commands++;
  }

  private async roundTrip(): Promise<void> {
    this.throwIfLost();
    if (this.closed) throw imapError(this.server, 'IMAP_CLOSED', 'connection was closed by poplift.');
    await tick();
    this.throwIfLost();
  }

  private throwIfLost(): void {
    if (this.lost) throw this.lost;
  }

  private lose(why: string): PopliftError {
    this.lost ??= imapError(this.server, 'IMAP_CONNECTION_LOST', `${why} (injected fault).`);
    return this.lost;
  }
}
