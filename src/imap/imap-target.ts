/**
 * The IMAP target driver: everything poplift does on the destination.
 * imapflow carries the control connection (folders, index, lookups); uploads
 * go through ImapAppendChannel, which pipelines them (see its header).
 */
import type { ImapFlow, MailboxObject } from 'imapflow';
import { ExitCode, PopliftError } from '../errors.js';
import type { FolderInfo, FolderScan, FolderStatus } from '../store/mail-store.js';
import type { AppendItem, AppendOutcome, ImapAppendChannel } from './imap-append-channel.js';
import { seconds } from './imap-connection.js';
import { openControlConnection, type ImapConnectOptions, type StreamErrors } from './imap-control-connection.js';
import { overCap } from './imap-errors.js';
import { knowFolder, unselect, withinDeadline } from './imapflow-adapter.js';
import { createFolder, folderStatus, type FolderContext } from './folder-commands.js';
import { acceptsFlag, flagsOf } from './folder-flags.js';
import { encodeModifiedUtf7 } from './mailbox-name.js';
import { junkFolderByName } from './junk-folder.js';
import { SecretRedactor } from '../secrets-redaction.js';
import { describeFolderNameProblems, folderNameProblems } from './folder-name-rules.js';
import type { DetectedProfile } from './provider-profile.js';
import { uploadPoolFor, type UploadPool } from './upload-pool.js';
import { forUidSets, uidChunks, uidSet } from './uid-sets.js';

export type { ImapConnectOptions } from './imap-control-connection.js';
export { UID_SET_OCTETS, uidChunks, uidSet, uidSets } from './uid-sets.js';
export type { FolderIndex, FolderInfo, IndexedMessage } from '../store/mail-store.js';

export class ImapTarget {
  private pool: UploadPool | undefined;
  /** A CLOSE sent in the background by inspect(); what needs a selected folder waits for it. */
  private deselecting: Promise<unknown> | undefined;
  /** The leaving of the last read-write selection (see append). */
  private readWriteLeft: Promise<unknown> | undefined;
  /**
   * What selects, reads under a selection, or leaves one (inspect, fetchBodies, addFlags, status)
   * runs one at a time: a STATUS deselects the folder first, which under another caller's mailbox
   * lock would leave its FETCH with no mailbox selected.
   */
  private selectionQueue: Promise<unknown> = Promise.resolve();

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.selectionQueue.then(work, work);
    this.selectionQueue = turn.catch(() => undefined);
    return turn;
  }
  /** The SELECT of a folder openFolder() just created, sent in the background; inspect() takes it. */
  private selecting: { path: string; info: Promise<FolderInfo> } | undefined;

  private constructor(
    private readonly options: ImapConnectOptions,
    private readonly client: ImapFlow,
    readonly server: string,
    /** The hosted provider behind the server (or 'generic'), and why. */
    readonly profile: DetectedProfile,
    private readonly errors: StreamErrors,
  ) {}

  static async connect(options: ImapConnectOptions): Promise<ImapTarget> {
    const { client, server, profile, errors } = await openControlConnection(options);
    const target = new ImapTarget(options, client, server, profile, errors);
    // The upload connection logs in now, while the folder is looked up and POP3 is listed. Not
    // before the control connection's login succeeded: a wrong password is tried once, and a token
    // that may be spent is used by the control connection first.
    if (options.openUploads) target.uploads();
    return target;
  }

  /** One exchange under its deadline (see withinDeadline); `verb` names the command in the error. */
  private within<T>(verb: string, work: Promise<T>): Promise<T> {
    return withinDeadline(
      this.client,
      this.options.timeoutMs,
      work,
      (ms) =>
        new PopliftError(
          `IMAP server ${this.server} did not finish answering ${verb} within ${seconds(ms)}; giving up on this connection.`,
          {
            exitCode: ExitCode.PARTIAL,
            side: 'IMAP',
            server: this.server,
            code: 'IMAP_TIMEOUT',
          },
        ),
    );
  }

  private fail(what: string, err: unknown): PopliftError {
    if (err instanceof PopliftError) return err;
    if (this.errors.overCap) return overCap(this.server, this.errors.overCap);
    return SecretRedactor.forCredentials(this.options).redactError(this.describeFailure(what, err));
  }

  private describeFailure(what: string, err: unknown): PopliftError {
    const e = err as { responseText?: string; message?: string; code?: string } | null | undefined;
    const lost = e?.code === 'NoConnection' || e?.code === 'EConnectionClosed' || !this.client.usable;
    return new PopliftError(`IMAP server ${this.server}: ${what} failed: ${e?.responseText ?? e?.message ?? String(err)}`, {
      exitCode: ExitCode.PARTIAL,
      side: 'IMAP',
      server: this.server,
      code: lost ? 'IMAP_CONNECTION_LOST' : 'IMAP_PROTOCOL',
      cause: err,
    });
  }

  /** The server's hierarchy delimiter for personal folders. */
  private async delimiter(): Promise<string> {
    // imapflow asked NAMESPACE at login; a LIST costs a round trip only when that gave nothing.
    const known = this.client.namespace?.delimiter;
    if (known) return known;
    const list = await this.within('LIST', this.client.list({ statusQuery: undefined })).catch((err: unknown) => {
      if (err instanceof PopliftError) throw err;
      return [];
    });
    const inbox = list.find((m) => m.path.toUpperCase() === 'INBOX');
    return inbox?.delimiter ?? list[0]?.delimiter ?? '/';
  }

  /**
   * Looks the folder up, creating it when missing and `create` is set.
   * `levels` is the user's path split on '/'; imapflow joins it with the
   * server's own delimiter.
   */
  async openFolder(levels: readonly string[], create: boolean, knownMissing = false): Promise<FolderInfo> {
    // A folder created for uploading is selected at once: one SELECT gives its UIDVALIDITY and the
    // flags it keeps, where a STATUS now and a SELECT before uploading would be two round trips.
    const selectNew = create && this.options.openUploads === true;
    const isInbox = levels.length === 1 && levels[0]!.toUpperCase() === 'INBOX';
    const delimiter = await this.delimiter();
    // Checked before anything is created, and in a dry run, so that a dry run never promises a folder the server refuses.
    const problems = folderNameProblems(levels, { separator: delimiter, profile: this.profile.profile });
    const refusal = describeFolderNameProblems(levels, problems);
    if (refusal !== undefined) {
      const provider = this.profile.profile.name === 'generic' ? '' : ` (${this.profile.profile.label})`;
      throw new PopliftError(`IMAP server ${this.server}${provider}: ${refusal}`, {
        exitCode: ExitCode.USAGE,
        side: 'IMAP',
        server: this.server,
        code: 'FOLDER_NAME',
      });
    }
    // The personal namespace's prefix (Cyrus and Courier: 'INBOX.') belongs to the name, as imapflow
    // adds it when it creates the folder: without it a later lookup would miss the folder it made.
    const prefix = this.client.namespace?.prefix ?? '';
    const joined = levels.join(delimiter);
    const path = isInbox ? 'INBOX' : prefix !== '' && !joined.startsWith(prefix) ? prefix + joined : joined;
    let status = knownMissing && create && !isInbox ? (false as const) : await folderStatus(this.folderContext, path);
    if (status) this.knowFolder(path, delimiter);
    if (!status && create && !isInbox) {
      try {
        await createFolder(this.folderContext, path);
        this.knowFolder(path, delimiter);
        // The SELECT and SUBSCRIBE (a folder that exists is enough to upload into) go in the
        // background, in that order: the source is read meanwhile, and inspect() waits for the SELECT.
        if (selectNew) {
          const selecting = this.selectNew(path);
          selecting.catch(() => undefined);
          this.selecting = { path, info: selecting };
          void this.client.mailboxSubscribe(path).catch(() => undefined);
          return {
            path,
            wireName: encodeModifiedUtf7(path),
            exists: true,
            uidValidity: undefined,
            permanentFlags: undefined,
            acceptsNewKeywords: true,
            appendLimit: undefined,
            flagsKnown: false,
          };
        }
        void this.client.mailboxSubscribe(path).catch(() => undefined);
      } catch (err) {
        if (err instanceof PopliftError) throw err;
        const e = err as { responseText?: string; message?: string };
        throw SecretRedactor.forCredentials(this.options).redactError(
          new PopliftError(
            `IMAP server ${this.server} refused to create folder '${levels.join('/')}': ${e.responseText ?? e.message}. Check the folder name and the account's rights.`,
            { exitCode: ExitCode.USAGE, side: 'IMAP', server: this.server, code: 'IMAP_FOLDER', cause: err },
          ),
        );
      }
      status = await folderStatus(this.folderContext, path);
    }
    return {
      path,
      wireName: encodeModifiedUtf7(path),
      // STATUS answers for a folder that exists (and may be selected).
      exists: status !== false,
      uidValidity: status ? status.uidValidity : undefined,
      permanentFlags: undefined,
      acceptsNewKeywords: true,
      appendLimit: undefined,
      flagsKnown: false,
      ...(status && status.seen ? { seen: status.seen } : {}),
    };
  }

  /**
   * Tells imapflow what it would otherwise LIST before a SELECT: the folder
   * exists (it was just created, or STATUS answered for it) and its delimiter.
   */
  private knowFolder(path: string, delimiter: string): void {
    knowFolder(this.client, path, delimiter);
  }

  /** Selects a folder just created (read-write, for PERMANENTFLAGS); inspect() takes it from there. */
  private async selectNew(path: string): Promise<FolderInfo> {
    try {
      const mailbox = await this.within('SELECT', this.client.mailboxOpen(path));
      return {
        ...this.flagsOf(mailbox, {
          path,
          wireName: encodeModifiedUtf7(path),
          exists: true,
          uidValidity: mailbox.uidValidity,
        } as FolderInfo),
        seen: { messages: mailbox.exists, uidNext: mailbox.uidNext },
      };
    } catch (err) {
      throw this.fail(`opening the new folder '${path}'`, err);
    }
  }

  /** What a read-write SELECT says about the flags a folder keeps and its size limit. */
  private flagsOf(mailbox: MailboxObject, folder: FolderInfo): FolderInfo {
    return flagsOf(mailbox, folder, this.client.capabilities.get('APPENDLIMIT'));
  }

  private get folderContext(): FolderContext {
    return { client: this.client, within: (verb, work) => this.within(verb, work), fail: (what, err) => this.fail(what, err) };
  }

  /**
   * Leaves the selected folder in the background, off the path to the first upload: a server
   * answers STATUS for the selected mailbox from this session's view, which would not see the
   * uploads made over the other connections.
   */
  private deselect(): void {
    if (!this.client.mailbox) return;
    const readWrite = this.client.mailbox.readOnly !== true;
    this.deselecting = this.leave().catch(() => undefined);
    if (readWrite) this.readWriteLeft = this.deselecting;
  }

  /**
   * Leaves the selected folder without expunging anything. A read-write
   * selection is first turned read-only with EXAMINE, which closes it
   * without expunging (RFC 3501 6.3.1), where CLOSE would expunge the
   * folder's \Deleted messages (RFC 3501 6.4.2); then UNSELECT (RFC 3691)
   * where offered, else CLOSE, both harmless in a read-only selection.
   */
  private async leave(): Promise<unknown> {
    const mailbox = this.client.mailbox;
    if (!mailbox) return;
    if (mailbox.readOnly !== true) {
      const examined = await this.within('EXAMINE', this.client.mailboxOpen(mailbox.path, { readOnly: true }));
      if (examined.readOnly !== true) return;
    }
    if (this.client.capabilities.has('UNSELECT')) return this.within('UNSELECT', unselect(this.client));
    return this.within('CLOSE', this.client.mailboxClose());
  }

  /** The account's folders, levels joined with '/' whatever the server's delimiter. */
  async listFolders(): Promise<string[]> {
    try {
      const boxes = await this.within('LIST', this.client.list());
      return boxes.map((b) => (b.delimiter ? b.path.split(b.delimiter).join('/') : b.path)).sort();
    } catch (err) {
      throw this.fail('listing the folders', err);
    }
  }

  /**
   * The folder the server itself marks with `use` (RFC 6154 SPECIAL-USE, or
   * Gmail's XLIST), as levels. A server that can mark folders and marks
   * none has none: a folder called "Spam" there may be the user's own. Only
   * a server that cannot mark any has its junk folder found by name
   * (junk-folder.ts).
   */
  async specialUseFolder(use: string): Promise<string[] | undefined> {
    try {
      const boxes = await this.within('LIST', this.client.list());
      const box = boxes.find((b) => b.specialUse === use && b.specialUseSource === 'extension');
      if (box) return box.delimiter ? box.path.split(box.delimiter) : [box.path];
      const marks = this.client.capabilities.has('SPECIAL-USE') || this.client.capabilities.has('XLIST');
      if (use !== '\\Junk' || marks) return undefined;
      return junkFolderByName(boxes, this.client.namespace?.prefix ?? '');
    } catch (err) {
      throw this.fail('listing the folders', err);
    }
  }

  /** UIDVALIDITY, UIDNEXT and MESSAGES now: how this run left the folder. */
  status(folder: FolderInfo): Promise<FolderStatus | undefined> {
    return this.inTurn(() => this.statusNow(folder));
  }

  private async statusNow(folder: FolderInfo): Promise<FolderStatus | undefined> {
    if (this.client.mailbox && !this.deselecting) this.deselect();
    await this.deselected();
    const status = await this.within('STATUS', this.client.status(folder.path, { uidNext: true, uidValidity: true, messages: true })).catch(
      () => false as const,
    );
    return status && status.uidValidity !== undefined && status.uidNext !== undefined && status.messages !== undefined
      ? { uidValidity: status.uidValidity, uidNext: status.uidNext, messages: status.messages }
      : undefined;
  }

  private async deselected(): Promise<void> {
    const pending = this.deselecting;
    this.deselecting = undefined;
    await pending;
  }

  /** Whether the folder keeps this flag (see folder-flags.ts). */
  static acceptsFlag(folder: FolderInfo, flag: string): boolean {
    return acceptsFlag(folder, flag);
  }

  /**
   * One visit to the folder for what a run needs before uploading: the
   * flags it keeps (a read-write SELECT, the only way to learn
   * PERMANENTFLAGS) and each message's UID, size and the header fields
   * asked for (one bulk FETCH under EXAMINE, then CLOSE, which expunges
   * nothing in a read-only mailbox).
   */
  inspect(folder: FolderInfo, want: { flags: boolean; scan?: FolderScan }): Promise<FolderInfo> {
    return this.inTurn(() => this.inspectNow(folder, want));
  }

  private async inspectNow(folder: FolderInfo, want: { flags: boolean; scan?: FolderScan }): Promise<FolderInfo> {
    if (!folder.exists) return folder;
    let result = folder;
    try {
      const selecting = this.selecting;
      this.selecting = undefined;
      if (selecting?.path === folder.path) {
        const selected = await selecting.info;
        result = folder = { ...folder, ...selected };
      }
      // A folder openFolder() just created is still selected read-write: read it there.
      const current =
        this.client.mailbox && this.client.mailbox.path === folder.path && !this.deselecting ? this.client.mailbox : undefined;
      if (!current) await this.deselected();
      let mailbox: MailboxObject;
      if (want.flags && !folder.flagsKnown) {
        // A read-write SELECT is the only way to learn PERMANENTFLAGS; the index is read under it
        // too (BODY.PEEK and RFC822.SIZE change no flag), so no EXAMINE follows.
        mailbox = current && current.readOnly !== true ? current : await this.within('SELECT', this.client.mailboxOpen(folder.path));
        result = this.flagsOf(mailbox, folder);
      } else {
        mailbox = current ?? (await this.within('EXAMINE', this.client.mailboxOpen(folder.path, { readOnly: true })));
      }
      result = { ...result, seen: { messages: mailbox.exists, uidNext: mailbox.uidNext } };
      const scan = want.scan;
      if (scan && mailbox.exists > 0) {
        await this.within(
          'FETCH',
          (async () => {
            for await (const msg of this.client.fetch('1:*', { uid: true, size: true, headers: [...scan.fields] })) {
              scan.each({ uid: msg.uid, size: msg.size ?? 0, headers: msg.headers ?? Buffer.alloc(0) });
            }
          })(),
        );
      }
      this.deselect();
    } catch (err) {
      throw this.fail(`reading folder '${folder.path}'`, err);
    }
    return result;
  }

  /**
   * Whether FETCH BINARY[] is offered (RFC 3516): a BODY[] literal cannot
   * carry NUL, so only BINARY[] returns a message with NUL bytes as stored.
   */
  get binaryFetch(): boolean {
    return this.client.capabilities.has('BINARY');
  }

  /** WildDuck, recognised by its greeting ("WildDuck IMAP Server ready ..."), serves BODY[] rebuilt from a MIME tree. */
  get rebuildsMessages(): boolean {
    return /^WildDuck IMAP Server\b/i.test(this.client.greeting ?? '');
  }

  /**
   * The full bytes of the messages with these UIDs (BODY.PEEK[], or
   * BINARY.PEEK[] with `binary` when the server offers it), handed to `each`
   * one at a time as they arrive; the folder is opened read-only and no flag
   * changes. UIDs no longer in the folder are simply not delivered.
   */
  fetchBodies(folder: FolderInfo, uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void): Promise<void> {
    return this.inTurn(() => this.fetchBodiesNow(folder, uids, binary, each));
  }

  private async fetchBodiesNow(
    folder: FolderInfo,
    uids: readonly number[],
    binary: boolean,
    each: (uid: number, content: Buffer) => void,
  ): Promise<void> {
    if (uids.length === 0 || !folder.exists) return;
    try {
      // imapflow would take a folder whose CLOSE is still in flight for selected and send no EXAMINE.
      await this.deselected();
      const lock = await this.within('EXAMINE', this.client.getMailboxLock(folder.path, { readOnly: true }));
      try {
        await this.forUidSets(uids, (set) =>
          this.within(
            'FETCH',
            (async () => {
              try {
                for await (const msg of this.client.fetch(
                  set,
                  { uid: true, source: true },
                  { uid: true, binary: binary && this.binaryFetch },
                )) {
                  if (msg.source) each(msg.uid, msg.source);
                }
                return true;
              } catch (err) {
                if ((err as { responseStatus?: unknown } | null | undefined)?.responseStatus === 'BAD') return false;
                throw err;
              }
            })(),
          ),
        );
      } finally {
        lock.release();
      }
    } catch (err) {
      throw this.fail(`fetching messages from folder '${folder.path}'`, err);
    }
  }

  /** A UID command for `uids` in sets any server takes (see uid-sets.ts's forUidSets). */
  private forUidSets(uids: readonly number[], command: (set: string) => Promise<boolean>): Promise<void> {
    return forUidSets(uids, command, (from) => this.uidsFrom(from));
  }

  /** The UIDs of the selected folder from `from` on (a range whose first UID is gone is parsed by every server seen). */
  private async uidsFrom(from: number): Promise<Set<number>> {
    const present = new Set<number>();
    await this.within(
      'FETCH',
      (async () => {
        for await (const msg of this.client.fetch(`${from}:*`, { uid: true }, { uid: true })) present.add(msg.uid);
      })(),
    );
    return present;
  }

  /**
   * Adds flags to messages already in the folder, by UID (UID STORE +FLAGS).
   * For providers that drop some flags given with APPEND (Microsoft
   * 365 drops \Flagged, see ProviderProfile.flaggedNeedsStore): upload
   * without them, then set them here with the UIDs APPENDUID returned.
   */
  addFlags(folder: FolderInfo, uids: readonly number[], flags: readonly string[]): Promise<void> {
    return this.inTurn(() => this.addFlagsNow(folder, uids, flags));
  }

  private async addFlagsNow(folder: FolderInfo, uids: readonly number[], flags: readonly string[]): Promise<void> {
    if (uids.length === 0 || flags.length === 0 || !folder.exists) return;
    try {
      await this.deselected();
      const lock = await this.within('SELECT', this.client.getMailboxLock(folder.path));
      try {
        // imapflow answers false for a STORE the server refused.
        await this.forUidSets(uids, (set) =>
          this.within('STORE', this.client.messageFlagsAdd(set, [...flags], { uid: true, silent: true })),
        );
      } finally {
        lock.release();
      }
      // Deselected at once: STATUS on the selected folder would not see the other connection's uploads.
      await this.leave().catch(() => undefined);
    } catch (err) {
      throw this.fail(`setting flags in folder '${folder.path}'`, err);
    }
  }

  /** Whether the server announced this capability (after login). */
  offers(capability: string): boolean {
    return this.client.capabilities.has(capability);
  }

  /**
   * Adds Gmail labels to messages already in the folder, by UID (UID STORE
   * +X-GM-LABELS, with X-GM-EXT-1). imapflow sends each label as a mailbox
   * name is sent (an astring, modified UTF-7 for non-ASCII), as Gmail's
   * extension wants. False when the server refused.
   */
  addLabels(folder: FolderInfo, uids: readonly number[], labels: readonly string[]): Promise<boolean> {
    return this.inTurn(() => this.addLabelsNow(folder, uids, labels));
  }

  private async addLabelsNow(folder: FolderInfo, uids: readonly number[], labels: readonly string[]): Promise<boolean> {
    if (uids.length === 0 || labels.length === 0 || !folder.exists) return true;
    try {
      await this.deselected();
      const lock = await this.within('SELECT', this.client.getMailboxLock(folder.path));
      let stored = true;
      try {
        // The UIDs are those APPENDUID named a moment ago: a refusal is the label's, not the set's.
        for (const chunk of uidChunks([...new Set(uids)].sort((a, b) => a - b))) {
          const set = uidSet(chunk);
          if (!(await this.within('STORE', this.client.messageFlagsAdd(set, [...labels], { uid: true, useLabels: true })))) stored = false;
        }
      } finally {
        lock.release();
      }
      // Deselected at once: STATUS on the selected folder would not see the other connection's uploads.
      await this.leave().catch(() => undefined);
      return stored;
    } catch (err) {
      throw this.fail(`labelling messages in folder '${folder.path}'`, err);
    }
  }

  /**
   * Uploads a batch into the folder. The outcome of each message is reported
   * separately; a lost connection rejects (outcome unknown for the batch).
   */
  async append(folder: FolderInfo, items: readonly AppendItem[], multi: boolean): Promise<AppendOutcome[]> {
    await this.uploadChannel();
    // GNU Mailutils imap4d, when a session that selected an mbox folder read-write leaves it (UNSELECT,
    // CLOSE, EXAMINE or LOGOUT alike), writes the folder back as that session saw it: what other
    // connections APPENDed meanwhile is gone, though each APPEND was answered OK
    // (test/integration/mailutils-deselect.test.ts). Nothing is appended until such a selection is left.
    await this.readWriteLeft;
    return this.uploads().append(folder.wireName, items, multi);
  }

  /**
   * Opens the upload connection(s) (once). Called early, their TLS handshakes
   * and logins overlap the folder lookups instead of delaying the first upload.
   * Resolves with the first connection once it is logged in.
   */
  uploadChannel(): Promise<ImapAppendChannel> {
    return this.uploads().opened();
  }

  /** Upload connections open now (more may still be opening). */
  get uploadConnections(): number {
    return this.pool?.size ?? 0;
  }

  /** Waits until every upload connection asked for is open or given up. */
  async uploadConnectionsSettled(): Promise<number> {
    await this.uploads().settled();
    return this.uploadConnections;
  }

  private uploads(): UploadPool {
    this.pool ??= uploadPoolFor(this.options);
    return this.pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await Promise.all([pool?.close(), this.closeClient()]);
  }

  private async closeClient(): Promise<void> {
    if (!this.client.usable) {
      this.client.close();
      return;
    }
    await this.within('LOGOUT', this.client.logout()).catch(() => this.client.close());
  }
}
