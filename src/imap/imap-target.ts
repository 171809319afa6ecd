/**
 * The IMAP target driver: everything poplift does on the destination.
 * imapflow carries the control connection (folders, index, lookups); uploads
 * go through ImapAppendChannel, which pipelines them (see its header).
 */
import { isIP } from 'node:net';
import { ImapFlow, type ImapFlowOptions, type MailboxObject } from 'imapflow';
import { ExitCode, PopliftError, connectFailure, describeServer, isTlsError } from '../errors.js';
import type { FolderInfo, FolderScan, FolderStatus } from '../store/mail-store.js';
import {
  ImapAppendChannel,
  exchangeDeadlineMs,
  noStartTls,
  type AppendItem,
  type AppendOutcome,
  type ImapLogin,
} from './imap-append-channel.js';
import { encodeModifiedUtf7 } from './mailbox-name.js';
import { SecretRedactor } from '../secrets-redaction.js';
import { sanitiseOAuthStatus } from '../sasl.js';
import { describeFolderNameProblems, folderNameProblems } from './folder-name-rules.js';
import { resolveProfile, type DetectedProfile, type ProfileChoice } from './provider-profile.js';
import { UploadPool } from './upload-pool.js';
import { packageVersion } from '../version.js';
import { probePort } from './port-probe.js';
import {
  commandFailed,
  connectFailed,
  exchangeTimeout,
  folderCreateRefused,
  folderNameRefused,
  greetingTimeout,
  loginDeadline,
  loginRefused,
  notImap,
  overCap,
  unsendablePassword,
} from './imap-errors.js';

export interface ImapConnectOptions extends ImapLogin {
  /**
   * Fetches a fresh OAuth2 token; the upload connection logs in after the
   * control connection, so the token may expire (or be spent) in between.
   */
  refreshToken?: () => Promise<string>;
  /** The provider's rules to follow (--profile); 'auto' or absent: detected from host, greeting and capabilities. */
  profile?: ProfileChoice;
  /** At most this many upload connections (--connections); default: 1 with MULTIAPPEND, else 8. */
  uploadConnections?: number;
  /** false with --no-multiappend: the server's MULTIAPPEND is not used, so several connections are. */
  multiAppend?: boolean;
  /** Open the first upload connection as soon as the control connection is logged in (a run that uploads). */
  openUploads?: boolean;
}

export type { FolderIndex, FolderInfo, IndexedMessage } from '../store/mail-store.js';

const SYSTEM_FLAGS = new Set(['\\SEEN', '\\ANSWERED', '\\FLAGGED', '\\DRAFT', '\\DELETED']);

/** The longest line taken from the server on the control connection, and the largest literal (a whole message). */
const MAX_LINE_BYTES = 1024 * 1024;
const MAX_LITERAL_BYTES = 512 * 1024 * 1024;

/** The few imapflow internals poplift uses to save round trips (imapflow is pinned to one version). */
interface ImapFlowInternals {
  exec(
    command: string,
    attributes: unknown[],
    options?: { untagged?: Record<string, (untagged: { attributes?: unknown[] }) => Promise<void>> },
  ): Promise<{ next(): void }>;
  folders?: Map<string, unknown>;
}

/** Why imapflow gave up on the connection, when it was a size cap. */
interface StreamErrors {
  overCap?: Error;
}

function passwordProblem(o: ImapConnectOptions, server: string, cause: unknown): PopliftError {
  const what = /\0/.test(o.password!) ? 'a NUL' : /\r/.test(o.password!) ? 'a CR' : 'an LF';
  return unsendablePassword(server, o.user, what, cause);
}

/** Maps anything imapflow throws while connecting to a one-line PopliftError. */
function loginError(o: ImapConnectOptions, err: unknown): PopliftError {
  if (err instanceof PopliftError) return err;
  const server = describeServer(o);
  const e = err as
    | {
        authenticationFailed?: boolean;
        serverResponseCode?: string;
        responseText?: string;
        message?: string;
        code?: string;
        oauthError?: { status?: unknown };
      }
    | null
    | undefined;
  if (e?.authenticationFailed) {
    // imapflow decodes the OAuth2 error challenge; its status tells an expired token from a wrong scope.
    return loginRefused(
      server,
      o.user,
      {
        code: e.serverResponseCode,
        text: e.responseText ?? e.message ?? 'authentication failed',
        tokenUsed: o.accessToken !== undefined,
        oauthStatus: sanitiseOAuthStatus(e.oauthError?.status),
      },
      err,
    );
  }
  if (e?.code === 'InvalidStringValue' && o.password !== undefined && /[\r\n\0]/.test(o.password)) return passwordProblem(o, server, err);
  if (isTlsError(err) || (e?.code && /^E[A-Z]+$/.test(e.code) && e.code !== 'ETHROTTLE'))
    return connectFailure('IMAP', server, o.host, err);
  return connectFailed(server, e?.message ?? String(err), err);
}

/**
 * Runs one exchange with imapflow under a deadline: imapflow's socket
 * timeout is an idle timer, which a server sending a byte now and then
 * ("* OK still here") re-arms for ever. The deadline is
 * exchangeDeadlineMs() of the octets the server sent meanwhile, so a
 * FETCH of large messages gets the time it needs at the slowest rate
 * allowed and a trickle gets none. When it passes, `expired` gives the
 * error and the connection is closed.
 */
function withinDeadline<T>(client: ImapFlow, timeoutMs: number, work: Promise<T>, expired: (ms: number) => PopliftError): Promise<T> {
  const socket = () => (client as unknown as { socket?: { bytesRead?: number } | null }).socket;
  const startBytes = socket()?.bytesRead ?? 0;
  const started = performance.now();
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const check = (): void => {
      const allowed = exchangeDeadlineMs(timeoutMs, Math.max(0, (socket()?.bytesRead ?? startBytes) - startBytes));
      const left = allowed - (performance.now() - started);
      if (left > 0) {
        timer = setTimeout(check, left);
        return;
      }
      done = true;
      reject(expired(allowed));
      client.close();
    };
    timer = setTimeout(check, exchangeDeadlineMs(timeoutMs));
    work.then(
      (value) => {
        clearTimeout(timer);
        if (!done) resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!done) reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** How long a connection may go without an IMAP greeting before poplift checks what answers on the port. */
const WRONG_PORT_AFTER_MS = 1000;

export class ImapTarget {
  private pool: UploadPool | undefined;
  /** A CLOSE sent in the background by inspect(); what needs a selected folder waits for it. */
  private deselecting: Promise<unknown> | undefined;
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
    const server = describeServer(options);
    const flowOptions: ImapFlowOptions = {
      host: options.host,
      port: options.port,
      secure: options.tls === 'implicit',
      // Without permission to go plaintext, STARTTLS is required before the login is sent.
      doSTARTTLS: options.tls === 'implicit' ? false : options.allowPlaintext ? undefined : true,
      ...(isIP(options.host) ? {} : { servername: options.host }),
      auth:
        options.accessToken !== undefined
          ? { user: options.user, accessToken: options.accessToken }
          : // LOGIN takes one round trip; imapflow's AUTHENTICATE PLAIN waits for a continuation first.
            { user: options.user, pass: options.password ?? '', loginMethod: 'LOGIN' },
      // imapflow hands these to net.connect/tls.connect (and to the STARTTLS upgrade): without
      // TCP_NODELAY each of its small commands may wait on a delayed ACK.
      tls: { ...options.tlsOptions, noDelay: true } as ImapFlowOptions['tls'],
      // imapflow logs pino JSON to stdout by default; poplift's stdout is for results only.
      logger: options.debug ? debugLogger(SecretRedactor.forCredentials(options).wrap(options.debug)!) : false,
      disableAutoIdle: true,
      // No ENABLE round trip: poplift needs neither CONDSTORE nor UTF8=ACCEPT (names go out in modified UTF-7).
      disableAutoEnable: true,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: Math.max(options.timeoutMs, 30_000),
      clientInfo: { name: 'poplift' },
      // imapflow's defaults (1 GiB lines) let a broken server fill memory with one line
      // (979 MB for a 300 MB line). Lines poplift needs are short; literals carry whole messages.
      maxLineLength: MAX_LINE_BYTES,
      maxLiteralSize: MAX_LITERAL_BYTES,
      maxResponseSize: MAX_LITERAL_BYTES + MAX_LINE_BYTES,
    };
    const client = new ImapFlow(flowOptions);
    // imapflow sends ID before login and, when the answer is short, again after it, with its own
    // vendor and support address: two round trips. poplift identifies itself once, on the upload
    // connection, where nothing waits for the answer.
    const flow = client as unknown as { run: (command: string, ...args: unknown[]) => Promise<unknown> };
    const run = flow.run.bind(client);
    flow.run = (command: string, ...args: unknown[]) => (command === 'ID' ? Promise.resolve(undefined) : run(command, ...args));
    const errors: StreamErrors = {};
    let lastError: unknown;
    client.on('error', (err: unknown) => {
      lastError = err;
      const code = (err as { code?: unknown } | null | undefined)?.code;
      if (code === 'LineTooLarge' || code === 'LiteralTooLarge' || code === 'ResponseTooLarge') errors.overCap ??= err as Error;
    });
    // A port that answers in another protocol (or waits for TLS) gets no IMAP greeting: after a
    // second without one, a short second connection tells what it is, instead of the whole timeout.
    let wrongPort: PopliftError | undefined;
    const watch = setTimeout(() => {
      void probePort(options.host, options.port, options.tls === 'implicit').then((said) => {
        if (said === undefined || client.usable) return;
        wrongPort = notImap(server, said);
        client.close();
      });
    }, WRONG_PORT_AFTER_MS);
    watch.unref();
    try {
      await withinDeadline(client, options.timeoutMs, client.connect(), (ms) => loginDeadline(server, ms));
    } catch (err) {
      if (wrongPort) throw wrongPort;
      if ((err as { code?: unknown } | null | undefined)?.code === 'GREETING_TIMEOUT') {
        throw greetingTimeout(server, options.timeoutMs, err);
      }
      const e = (err ?? lastError) as { message?: string } | null | undefined;
      if (options.tls === 'starttls' && !options.allowPlaintext && /STARTTLS/i.test(e?.message ?? '')) {
        throw noStartTls(server, err);
      }
      if (errors.overCap) throw overCap(server, errors.overCap);
      // A server may echo the credentials in its refusal.
      throw SecretRedactor.forCredentials(options).redactError(loginError(options, err ?? lastError));
    } finally {
      clearTimeout(watch);
    }
    const profile = resolveProfile(options.profile, {
      host: options.host,
      greeting: client.greeting,
      capabilities: client.capabilities.keys(),
    });
    const target = new ImapTarget(options, client, server, profile, errors);
    // The upload connection logs in now, while the folder is looked up and POP3 is listed. Not
    // before the control connection's login succeeded: a wrong password is tried once, and a token
    // that may be spent is used by the control connection first.
    if (options.openUploads) target.uploads();
    return target;
  }

  /** One exchange under its deadline (see withinDeadline); `verb` names the command in the error. */
  private within<T>(verb: string, work: Promise<T>): Promise<T> {
    return withinDeadline(this.client, this.options.timeoutMs, work, (ms) => exchangeTimeout(this.server, verb, ms));
  }

  private fail(what: string, err: unknown): PopliftError {
    if (err instanceof PopliftError) return err;
    if (this.errors.overCap) return overCap(this.server, this.errors.overCap);
    return SecretRedactor.forCredentials(this.options).redactError(this.describeFailure(what, err));
  }

  private describeFailure(what: string, err: unknown): PopliftError {
    const e = err as { responseText?: string; message?: string; code?: string } | null | undefined;
    const lost = e?.code === 'NoConnection' || e?.code === 'EConnectionClosed' || !this.client.usable;
    return commandFailed(this.server, what, e?.responseText ?? e?.message ?? String(err), lost, err);
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
      throw folderNameRefused(`${this.server}${provider}`, refusal);
    }
    // The personal namespace's prefix (Cyrus and Courier: 'INBOX.') belongs to the name, as imapflow
    // adds it when it creates the folder: without it a later lookup would miss the folder it made.
    const prefix = this.client.namespace?.prefix ?? '';
    const joined = levels.join(delimiter);
    const path = isInbox ? 'INBOX' : prefix !== '' && !joined.startsWith(prefix) ? prefix + joined : joined;
    let status = knownMissing && create && !isInbox ? (false as const) : await this.uidValidityOf(path);
    if (status) this.knowFolder(path, delimiter);
    if (!status && create && !isInbox) {
      try {
        await this.create(path);
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
          folderCreateRefused(this.server, levels.join('/'), e.responseText ?? e.message ?? String(err), err),
        );
      }
      status = await this.uidValidityOf(path);
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
   * STATUS (UIDVALIDITY) of a folder, or false when the server says NO (it
   * does not exist). imapflow's status() follows a NO with a LIST to tell a
   * missing folder from other refusals, a round trip that tells poplift
   * nothing more: it creates the folder, or reports the refusal then.
   * A BAD is the answer of some servers for a folder that does not exist
   * (hoodiecrow: `BAD Invalid mailbox name`): then the folder is missing
   * unless LIST names it, and CREATE's own answer decides what follows.
   */
  private async uidValidityOf(path: string): Promise<{ uidValidity: bigint | undefined; seen: FolderInfo['seen'] } | false> {
    const flow = this.client as unknown as ImapFlowInternals;
    const encoded = encodeModifiedUtf7(path);
    let uidValidity: bigint | undefined;
    // MESSAGES and UIDNEXT ride along: with the journal's record they tell whether anything was expunged since.
    const counts: { MESSAGES?: number; UIDNEXT?: number } = {};
    try {
      const response = await this.within(
        'STATUS',
        flow.exec(
          'STATUS',
          [
            { type: encoded.includes('&') ? 'STRING' : 'ATOM', value: encoded },
            [
              { type: 'ATOM', value: 'MESSAGES' },
              { type: 'ATOM', value: 'UIDNEXT' },
              { type: 'ATOM', value: 'UIDVALIDITY' },
            ],
          ],
          {
            untagged: {
              STATUS: (untagged: { attributes?: unknown[] }) => {
                const list = untagged.attributes?.[1];
                if (!Array.isArray(list)) return Promise.resolve();
                for (let i = 0; i + 1 < list.length; i += 2) {
                  const key = (list[i] as { value?: unknown } | null | undefined)?.value;
                  const value = (list[i + 1] as { value?: unknown } | null | undefined)?.value;
                  if (typeof key !== 'string' || typeof value !== 'string' || !/^\d+$/.test(value)) continue;
                  const name = key.toUpperCase();
                  if (name === 'UIDVALIDITY') uidValidity = BigInt(value);
                  else if (name === 'MESSAGES' || name === 'UIDNEXT') counts[name] = Number(value);
                }
                return Promise.resolve();
              },
            },
          },
        ),
      );
      response.next();
      const seen =
        counts.MESSAGES !== undefined && counts.UIDNEXT !== undefined ? { messages: counts.MESSAGES, uidNext: counts.UIDNEXT } : undefined;
      return { uidValidity, seen };
    } catch (err) {
      const answer = (err as { responseStatus?: string } | null | undefined)?.responseStatus;
      if (answer === 'NO') return false;
      if (answer === 'BAD' && this.client.usable && !(await this.listed(encoded).catch(() => true))) return false;
      // A STATUS that failed because the connection did is not a missing folder.
      throw this.fail(`looking up folder '${path}'`, err);
    }
  }

  /** Whether LIST names exactly this folder (its wire name). */
  private async listed(encoded: string): Promise<boolean> {
    const flow = this.client as unknown as ImapFlowInternals;
    let found = false;
    const response = await this.within(
      'LIST',
      flow.exec(
        'LIST',
        [
          { type: 'STRING', value: '' },
          { type: 'STRING', value: encoded },
        ],
        {
          untagged: {
            LIST: (untagged: { attributes?: unknown[] }) => {
              const name = (untagged.attributes?.[2] as { value?: unknown } | null | undefined)?.value;
              if (typeof name === 'string' && (name === encoded || (encoded.toUpperCase() === 'INBOX' && name.toUpperCase() === 'INBOX')))
                found = true;
              return Promise.resolve();
            },
          },
        },
      ),
    );
    response.next();
    return found;
  }

  /**
   * CREATE alone: imapflow's mailboxCreate also waits for a SUBSCRIBE. A
   * folder that exists already ([ALREADYEXISTS], RFC 5530, or found by a
   * STATUS after a NO) is as good.
   */
  private async create(path: string): Promise<void> {
    const flow = this.client as unknown as ImapFlowInternals;
    const encoded = encodeModifiedUtf7(path);
    try {
      const response = await this.within(
        'CREATE',
        flow.exec('CREATE', [{ type: encoded.includes('&') ? 'STRING' : 'ATOM', value: encoded }]),
      );
      response.next();
    } catch (err) {
      const e = err as { serverResponseCode?: string; responseStatus?: string } | null | undefined;
      if (e?.serverResponseCode === 'ALREADYEXISTS') return;
      // Another client (a run on another machine) may have created it since the STATUS that found it
      // missing; Dovecot's NO then says so only in its text. A folder that exists now is as good.
      if (e?.responseStatus === 'NO' && (await this.uidValidityOf(path).catch(() => false as const)) !== false) return;
      throw err;
    }
  }

  /**
   * Tells imapflow what it would otherwise LIST before a SELECT: the folder
   * exists (it was just created, or STATUS answered for it) and its delimiter.
   */
  private knowFolder(path: string, delimiter: string): void {
    const flow = this.client as unknown as ImapFlowInternals;
    if (flow.folders instanceof Map && !flow.folders.has(path)) {
      flow.folders.set(path, { path, delimiter, flags: new Set<string>(), specialUse: false, listed: true, subscribed: true });
    }
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
    const permanentFlags = mailbox.permanentFlags;
    const star = permanentFlags?.has('\\*') ?? true;
    const globalLimit = this.client.capabilities.get('APPENDLIMIT');
    return {
      ...folder,
      permanentFlags: star || !permanentFlags || permanentFlags.size === 0 ? undefined : permanentFlags,
      acceptsNewKeywords: star,
      appendLimit: mailbox.appendlimit ?? (typeof globalLimit === 'number' ? globalLimit : undefined),
      flagsKnown: true,
    };
  }

  /**
   * Leaves the selected folder in the background, off the path to the first upload: a server
   * answers STATUS for the selected mailbox from this session's view, which would not see the
   * uploads made over the other connections. UNSELECT (RFC 3691) expunges nothing; CLOSE expunges
   * nothing only in a folder selected read-only (RFC 3501 6.4.2), so without UNSELECT a read-write
   * selection is first turned read-only with EXAMINE.
   */
  private deselect(): void {
    const mailbox = this.client.mailbox;
    if (!mailbox) return;
    const flow = this.client as unknown as { run: (command: string, ...args: unknown[]) => Promise<unknown> };
    this.deselecting = (async () => {
      if (this.client.capabilities.has('UNSELECT')) return this.within('UNSELECT', flow.run('CLOSE', { unselect: true }));
      if (mailbox.readOnly !== true) {
        const examined = await this.within('EXAMINE', this.client.mailboxOpen(mailbox.path, { readOnly: true }));
        if (examined.readOnly !== true) return undefined;
      }
      return this.within('CLOSE', this.client.mailboxClose());
    })().catch(() => undefined);
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

  /** Whether the folder keeps this flag (system flags are always kept unless PERMANENTFLAGS says otherwise). */
  static acceptsFlag(folder: FolderInfo, flag: string): boolean {
    if (!folder.permanentFlags) return true;
    for (const f of folder.permanentFlags) if (f.toUpperCase() === flag.toUpperCase()) return true;
    if (SYSTEM_FLAGS.has(flag.toUpperCase())) return false;
    return folder.acceptsNewKeywords;
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

  /**
   * Runs a UID command (FETCH, STORE) on the selected folder for `uids`, in
   * sets short enough for any server (uidSets). RFC 9051 section 6.4.9 has a
   * server ignore UIDs that are not in the folder; GNU Mailutils 3.15 imap4d
   * instead answers BAD ("Failed to parse message set") to a set that names
   * one. A set the server refuses (`command` resolves false) is sent again
   * once, with only the UIDs that a `UID FETCH n:* (UID)` shows are there; a
   * second refusal fails the step, so nothing is taken for absent unproven.
   */
  private async forUidSets(uids: readonly number[], command: (set: string) => Promise<boolean>): Promise<void> {
    let present: Set<number> | undefined;
    for (const chunk of uidChunks([...new Set(uids)].sort((a, b) => a - b))) {
      if (await command(uidSet(chunk))) continue;
      present ??= await this.uidsFrom(chunk[0]!);
      const there = chunk.filter((uid) => present!.has(uid));
      if (there.length > 0 && !(await command(uidSet(there)))) {
        throw new Error(`the server refused UID set ${uidSet(there).slice(0, 60)}… twice, the second time with only UIDs it listed`);
      }
    }
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
      if (this.client.mailbox) await this.within('CLOSE', this.client.mailboxClose()).catch(() => undefined);
    } catch (err) {
      throw this.fail(`setting flags in folder '${folder.path}'`, err);
    }
  }

  /**
   * Uploads a batch into the folder. The outcome of each message is reported
   * separately; a lost connection rejects (outcome unknown for the batch).
   */
  async append(folder: FolderInfo, items: readonly AppendItem[], multi: boolean): Promise<AppendOutcome[]> {
    await this.uploadChannel();
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
    this.pool ??= uploadPool(this.options);
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

/** The upload connections of a destination; the first one identifies poplift (ID). */
function uploadPool(options: ImapConnectOptions): UploadPool {
  const { refreshToken } = options;
  let token = options.accessToken;
  let opened = 0;
  const open = () => {
    const clientId = opened++ === 0 ? { name: 'poplift', version: packageVersion() } : undefined;
    return ImapAppendChannel.open({ ...options, accessToken: token, clientId }).catch(async (err: unknown) => {
      // One retry with a fresh token, as for the control connection; a password is not retried.
      if (!(err instanceof PopliftError) || err.exitCode !== ExitCode.AUTH || token === undefined || !refreshToken) throw err;
      token = await refreshToken();
      return ImapAppendChannel.open({ ...options, accessToken: token, clientId });
    });
  };
  return new UploadPool({ open, limit: options.uploadConnections, multiAppend: options.multiAppend !== false, debug: options.debug });
}

/**
 * The longest UID set put in one command. Servers bound the command lines they parse (RFC 7162
 * section 4 asks clients to stay within 8,192 octets); this leaves room for the tag, the command
 * and its item list. A count of UIDs is no bound: ten-digit UIDs with gaps take 11 octets each.
 */
export const UID_SET_OCTETS = 7_800;

/** Ascending UIDs cut into runs whose IMAP sequence set (uidSet) is at most `maxOctets` long. */
export function uidChunks(sorted: readonly number[], maxOctets = UID_SET_OCTETS): number[][] {
  const chunks: number[][] = [];
  let start = 0;
  let octets = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    const part = String(sorted[i]).length + (i === j ? 0 : 1 + String(sorted[j]).length);
    if (i > start && octets + 1 + part > maxOctets) {
      chunks.push(sorted.slice(start, i));
      start = i;
      octets = 0;
    }
    octets += (octets === 0 ? 0 : 1) + part;
    i = j + 1;
  }
  if (start < sorted.length) chunks.push(sorted.slice(start));
  return chunks;
}

/** Ascending UIDs as IMAP sequence sets (runs as ranges), each at most UID_SET_OCTETS octets long. */
export function uidSets(sorted: readonly number[], maxOctets = UID_SET_OCTETS): string[] {
  return uidChunks(sorted, maxOctets).map(uidSet);
}

/** Ascending UIDs as one IMAP sequence set, runs as ranges: 1:3,7,9:10. */
export function uidSet(sorted: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function debugLogger(debug: (line: string) => void) {
  const emit = (o: unknown) => {
    const entry = o as { msg?: string; src?: string } | null | undefined;
    if (entry?.msg) debug(`IMAP ${entry.src === 'c' ? 'C' : entry.src === 's' ? 'S' : '-'}: ${entry.msg}`);
  };
  return { debug: emit, info: emit, warn: emit, error: emit };
}
