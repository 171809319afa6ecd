/**
 * The IMAP target driver: everything poplift does on the destination.
 * imapflow carries the control connection (folders, index, lookups); uploads
 * go through ImapAppendChannel, which pipelines them (see its header).
 */
import { isIP } from 'node:net';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { ExitCode, PopliftError, connectFailure, describeServer, isTlsError } from '../errors.js';
import type { FolderInfo, FolderScan } from '../store/mail-store.js';
import { ImapAppendChannel, noStartTls, type AppendItem, type AppendOutcome, type ImapLogin } from './imap-append-channel.js';
import { encodeModifiedUtf7 } from './mailbox-name.js';
import { SecretRedactor } from '../secrets-redaction.js';
import { describeFolderNameProblems, folderNameProblems } from './folder-name-rules.js';
import { resolveProfile, type DetectedProfile, type ProfileChoice } from './provider-profile.js';

export interface ImapConnectOptions extends ImapLogin {
  /**
   * Fetches a fresh OAuth2 token; the upload connection logs in after the
   * control connection, so the token may expire (or be spent) in between.
   */
  refreshToken?: () => Promise<string>;
  /** The provider's rules to follow (--profile); 'auto' or absent: detected from host, greeting and capabilities. */
  profile?: ProfileChoice;
}

export type { FolderIndex, FolderInfo, IndexedMessage } from '../store/mail-store.js';

const SYSTEM_FLAGS = new Set(['\\SEEN', '\\ANSWERED', '\\FLAGGED', '\\DRAFT', '\\DELETED']);

/** Maps anything imapflow throws while connecting to a one-line PopliftError. */
function loginError(o: ImapConnectOptions, err: unknown): PopliftError {
  if (err instanceof PopliftError) return err;
  const server = describeServer(o);
  const e = err as {
    authenticationFailed?: boolean;
    serverResponseCode?: string;
    responseText?: string;
    message?: string;
    code?: string;
    oauthError?: { status?: unknown };
  } | null | undefined;
  if (e?.authenticationFailed) {
    const code = e.serverResponseCode ? `[${e.serverResponseCode}] ` : '';
    const said = (e.responseText ?? e.message ?? 'authentication failed').replace(/\.$/, '');
    // A refused token needs a fresh token, not a password check (imapflow decodes the OAuth2 error challenge).
    const oauthStatus = e.oauthError?.status;
    const status =
      typeof oauthStatus === 'string' || typeof oauthStatus === 'number'
        ? ` (status "${String(oauthStatus).replace(/[^\x20-\x7e]/g, '').slice(0, 80)}")`
        : '';
    const what =
      o.accessToken !== undefined
        ? `refused the OAuth2 access token for ${o.user}${status}: ${code}${said}. Get a fresh access token, and check that it was issued for this account with IMAP access.`
        : `refused the login for ${o.user}: ${code}${said}. Check the IMAP user name and password.`;
    return new PopliftError(
      `IMAP server ${server} ${what}`,
      { exitCode: ExitCode.AUTH, side: 'IMAP', server, code: 'IMAP_AUTH', cause: err },
    );
  }
  if (isTlsError(err) || (e?.code && /^E[A-Z]+$/.test(e.code) && e.code !== 'ETHROTTLE')) return connectFailure('IMAP', server, o.host, err);
  return new PopliftError(`IMAP server ${server}: ${e?.message ?? String(err)}`, {
    exitCode: ExitCode.CONNECT,
    side: 'IMAP',
    server,
    code: 'IMAP_CONNECT',
    cause: err,
  });
}

export class ImapTarget {
  private channelOpening: Promise<ImapAppendChannel> | undefined;
  /** A CLOSE sent in the background by inspect(); what needs a selected folder waits for it. */
  private deselecting: Promise<unknown> | undefined;

  private constructor(
    private readonly options: ImapConnectOptions,
    private readonly client: ImapFlow,
    readonly server: string,
    /** The hosted provider behind the server (or 'generic'), and why. */
    readonly profile: DetectedProfile,
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
      tls: { ...options.tlsOptions },
      // imapflow logs pino JSON to stdout by default; poplift's stdout is for results only.
      logger: options.debug ? debugLogger(SecretRedactor.forCredentials(options).wrap(options.debug)!) : false,
      disableAutoIdle: true,
      // No ENABLE round trip: poplift needs neither CONDSTORE nor UTF8=ACCEPT (names go out in modified UTF-7).
      disableAutoEnable: true,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: Math.max(options.timeoutMs, 30_000),
      clientInfo: { name: 'poplift' },
    };
    const client = new ImapFlow(flowOptions);
    let lastError: unknown;
    client.on('error', (err: unknown) => {
      lastError = err;
    });
    try {
      await client.connect();
    } catch (err) {
      const e = (err ?? lastError) as { message?: string } | null | undefined;
      if (options.tls === 'starttls' && !options.allowPlaintext && /STARTTLS/i.test(e?.message ?? '')) {
        throw noStartTls(server, err);
      }
      // A server may echo the credentials in its refusal.
      throw SecretRedactor.forCredentials(options).redactError(loginError(options, err ?? lastError));
    }
    const profile = resolveProfile(options.profile, {
      host: options.host,
      greeting: client.greeting,
      capabilities: client.capabilities.keys(),
    });
    const target = new ImapTarget(options, client, server, profile);
    return target;
  }

  private fail(what: string, err: unknown): PopliftError {
    if (err instanceof PopliftError) return err;
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
    const list = await this.client.list({ statusQuery: undefined }).catch(() => []);
    const inbox = list.find((m) => m.path.toUpperCase() === 'INBOX');
    return inbox?.delimiter ?? list[0]?.delimiter ?? '/';
  }

  /**
   * Looks the folder up, creating it when missing and `create` is set.
   * `levels` is the user's path split on '/'; imapflow joins it with the
   * server's own delimiter.
   */
  async openFolder(levels: readonly string[], create: boolean): Promise<FolderInfo> {
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
    let path = isInbox ? 'INBOX' : levels.join(delimiter);
    let status = await this.client.status(path, { uidValidity: true }).catch(() => false as const);
    if (!status && create && !isInbox) {
      try {
        const created = await this.client.mailboxCreate([...levels]);
        path = created.path;
      } catch (err) {
        const e = err as { responseText?: string; message?: string };
        throw SecretRedactor.forCredentials(this.options).redactError(new PopliftError(
          `IMAP server ${this.server} refused to create folder '${levels.join('/')}': ${e.responseText ?? e.message}. Check the folder name and the account's rights.`,
          { exitCode: ExitCode.USAGE, side: 'IMAP', server: this.server, code: 'IMAP_FOLDER', cause: err },
        ));
      }
      status = await this.client.status(path, { uidValidity: true }).catch(() => false as const);
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
    };
  }

  /** UIDVALIDITY and UIDNEXT now, for the journal's record of how this run left the folder. */
  async status(folder: FolderInfo): Promise<{ uidValidity: bigint; uidNext: number } | undefined> {
    const status = await this.client.status(folder.path, { uidNext: true, uidValidity: true }).catch(() => false as const);
    return status && status.uidValidity !== undefined && status.uidNext !== undefined
      ? { uidValidity: status.uidValidity, uidNext: status.uidNext }
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
  async inspect(folder: FolderInfo, want: { flags: boolean; scan?: FolderScan }): Promise<FolderInfo> {
    if (!folder.exists) return folder;
    let result = folder;
    await this.deselected();
    try {
      if (want.flags && !folder.flagsKnown) {
        const mailbox = await this.client.mailboxOpen(folder.path);
        const permanentFlags = mailbox.permanentFlags;
        const star = permanentFlags?.has('\\*') ?? true;
        const globalLimit = this.client.capabilities.get('APPENDLIMIT');
        result = {
          ...folder,
          permanentFlags: star || !permanentFlags || permanentFlags.size === 0 ? undefined : permanentFlags,
          acceptsNewKeywords: star,
          appendLimit: mailbox.appendlimit ?? (typeof globalLimit === 'number' ? globalLimit : undefined),
          flagsKnown: true,
        };
      }
      // Switching to EXAMINE deselects without expunging.
      const mailbox = await this.client.mailboxOpen(folder.path, { readOnly: true });
      const scan = want.scan;
      if (scan && mailbox.exists > 0) {
        for await (const msg of this.client.fetch('1:*', { uid: true, size: true, headers: [...scan.fields] })) {
          scan.each({ uid: msg.uid, size: msg.size ?? 0, headers: msg.headers ?? Buffer.alloc(0) });
        }
      }
      // Deselected in the background, off the path to the first upload: a server answers STATUS for
      // the selected mailbox from this session's view, which would not see the uploads made over the
      // other connection. CLOSE expunges nothing in a mailbox selected read-only (RFC 3501 6.4.2), so
      // it is sent only when the server confirmed READ-ONLY.
      if (this.client.mailbox && this.client.mailbox.readOnly === true) {
        this.deselecting = this.client.mailboxClose().catch(() => undefined);
      }
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

  /**
   * The full bytes of the messages with these UIDs (BODY.PEEK[], or
   * BINARY.PEEK[] with `binary` when the server offers it), handed to `each`
   * one at a time as they arrive; the folder is opened read-only and no flag
   * changes. UIDs no longer in the folder are simply not delivered.
   */
  async fetchBodies(folder: FolderInfo, uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void): Promise<void> {
    if (uids.length === 0 || !folder.exists) return;
    try {
      // imapflow would take a folder whose CLOSE is still in flight for selected and send no EXAMINE.
      await this.deselected();
      const lock = await this.client.getMailboxLock(folder.path, { readOnly: true });
      try {
        const sorted = [...new Set(uids)].sort((a, b) => a - b);
        for (let i = 0; i < sorted.length; i += FETCH_UIDS_PER_COMMAND) {
          const set = uidSet(sorted.slice(i, i + FETCH_UIDS_PER_COMMAND));
          for await (const msg of this.client.fetch(set, { uid: true, source: true }, { uid: true, binary: binary && this.binaryFetch })) {
            if (msg.source) each(msg.uid, msg.source);
          }
        }
      } finally {
        lock.release();
      }
    } catch (err) {
      throw this.fail(`fetching messages from folder '${folder.path}'`, err);
    }
  }

  /**
   * Adds flags to messages already in the folder, by UID (UID STORE +FLAGS).
   * For providers that drop some flags given with APPEND (Microsoft
   * 365 drops \Flagged, see ProviderProfile.flaggedNeedsStore): upload
   * without them, then set them here with the UIDs APPENDUID returned.
   */
  async addFlags(folder: FolderInfo, uids: readonly number[], flags: readonly string[]): Promise<void> {
    if (uids.length === 0 || flags.length === 0 || !folder.exists) return;
    try {
      await this.deselected();
      const lock = await this.client.getMailboxLock(folder.path);
      try {
        const sorted = [...new Set(uids)].sort((a, b) => a - b);
        for (let i = 0; i < sorted.length; i += FETCH_UIDS_PER_COMMAND) {
          await this.client.messageFlagsAdd(uidSet(sorted.slice(i, i + FETCH_UIDS_PER_COMMAND)), [...flags], { uid: true, silent: true });
        }
      } finally {
        lock.release();
      }
      // Deselected at once: STATUS on the selected folder would not see the other connection's uploads.
      if (this.client.mailbox) await this.client.mailboxClose().catch(() => undefined);
    } catch (err) {
      throw this.fail(`setting flags in folder '${folder.path}'`, err);
    }
  }

  /**
   * Uploads a batch into the folder. The outcome of each message is reported
   * separately; a lost connection rejects (outcome unknown for the batch).
   */
  async append(folder: FolderInfo, items: readonly AppendItem[], multi: boolean): Promise<AppendOutcome[]> {
    const channel = await this.uploadChannel();
    return channel.append(folder.wireName, items, multi && channel.multiAppend);
  }

  /**
   * Opens the upload connection (once). Called early, its TLS handshake and
   * login overlap the folder lookups instead of delaying the first upload.
   */
  uploadChannel(): Promise<ImapAppendChannel> {
    const { refreshToken } = this.options;
    this.channelOpening ??= ImapAppendChannel.open(this.options)
      .catch(async (err: unknown) => {
        // One retry with a fresh token, as for the control connection; a password is not retried.
        if (!(err instanceof PopliftError) || err.exitCode !== ExitCode.AUTH || this.options.accessToken === undefined || !refreshToken) throw err;
        return ImapAppendChannel.open({ ...this.options, accessToken: await refreshToken() });
      });
    return this.channelOpening;
  }

  async close(): Promise<void> {
    // A channel still opening is closed once it is open.
    const opening = this.channelOpening;
    this.channelOpening = undefined;
    const channel = await opening?.catch(() => undefined);
    await Promise.all([
      channel?.logout(),
      this.closeClient(),
    ]);
  }

  private async closeClient(): Promise<void> {
    if (!this.client.usable) {
      this.client.close();
      return;
    }
    await this.client.logout().catch(() => this.client.close());
  }
}

/** UIDs per FETCH command, so the command line stays short whatever the gaps between them. */
const FETCH_UIDS_PER_COMMAND = 1000;

/** Ascending UIDs as an IMAP sequence set, runs as ranges: 1:3,7,9:10. */
export function uidSet(sorted: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
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
