/**
 * The IMAP driver as the engine sees it: a MailDestination over one
 * ImapTarget (control connection plus upload connection). Server answers to
 * an APPEND are put into the store's words here, so the engine never reads
 * IMAP response codes or texts.
 */
import type { FolderInfo, FolderScan, FolderStatus, MailDestination, UploadItem, UploadOutcome } from '../store/mail-store.js';
import type { AppendOutcome } from './imap-append-channel.js';
import { classifyAnswer, runLaterReason } from './server-responses.js';
import { ImapTarget, type ImapConnectOptions } from './imap-target.js';
import { describeProfile, oversizeReason, type DetectedProfile } from './provider-profile.js';
import { ExitCode, PopliftError } from '../errors.js';
import type { UploadBudget } from './upload-budget.js';

/** The longest wait a throttling answer is obeyed for within one batch. */
const MAX_THROTTLE_WAIT_MS = 120_000;

/** An APPEND outcome in the store's words (the server's words read by classifyAnswer, as everywhere). */
export function uploadOutcome(outcome: AppendOutcome, server = 'the destination'): UploadOutcome {
  if (outcome.ok) return { outcome: 'stored', uid: outcome.uid, uidValidity: outcome.uidValidity };
  const code = outcome.code ? `[${outcome.code}] ` : '';
  const detail = `${outcome.status} ${code}${outcome.text}`.trim();
  const signal = classifyAnswer({ status: outcome.status, code: outcome.code, text: outcome.text });
  if (signal?.kind === 'daily-quota') return { outcome: 'later', detail: runLaterReason('IMAP', server, signal, undefined) };
  if (signal?.kind === 'throttle') {
    // Longer than a run waits: what is done is recorded and the next run goes on.
    if (signal.waitMs > MAX_THROTTLE_WAIT_MS) {
      return { outcome: 'later', detail: runLaterReason('IMAP', server, signal, new Date(Date.now() + signal.waitMs)) };
    }
    return { outcome: 'throttled', retryAfterMs: signal.waitMs, detail };
  }
  if (signal?.kind === 'over-quota') return { outcome: 'over-quota', detail };
  return { outcome: 'refused', detail };
}

/** --label: Gmail labels every uploaded message gets, shared by every session of the run. */
export interface Labelling {
  labels: readonly string[];
  /** Told once per run when the server refuses a label. */
  warn(message: string): void;
  warned?: boolean;
}

export class ImapDestination implements MailDestination {
  private constructor(
    private readonly target: ImapTarget,
    /** --max-bytes-per-run and --rate, shared by every session of the run. */
    private readonly budget?: UploadBudget,
    private readonly labelling?: Labelling,
  ) {}

  /** With labels, a server without Gmail's extension is refused at once (exit 2): nothing is uploaded unlabelled. */
  static async connect(options: ImapConnectOptions, budget?: UploadBudget, labelling?: Labelling): Promise<ImapDestination> {
    const target = await ImapTarget.connect(options);
    if (labelling !== undefined && labelling.labels.length > 0 && !target.offers('X-GM-EXT-1')) {
      await target.close().catch(() => undefined);
      throw new PopliftError(
        `IMAP server ${target.server} does not offer Gmail's labels (no X-GM-EXT-1 capability): --label works only into Gmail. Choose the folder with --folder instead, and drop --label.`,
        { exitCode: ExitCode.USAGE, code: 'USAGE', side: 'IMAP', server: target.server },
      );
    }
    return new ImapDestination(target, budget, labelling);
  }

  get server(): string {
    return this.target.server;
  }

  /** The hosted provider this server was recognised as (or the one the user named). */
  get profile(): DetectedProfile {
    return this.target.profile;
  }

  get recognisedAs(): string | undefined {
    const detected = this.target.profile;
    return detected.profile.name === 'generic' ? undefined : describeProfile(detected);
  }

  get readsBinary(): boolean {
    return this.target.binaryFetch;
  }

  get rebuildsMessages(): boolean {
    return this.target.rebuildsMessages;
  }

  openFolder(levels: readonly string[], create: boolean, knownMissing = false): Promise<FolderInfo> {
    return this.target.openFolder(levels, create, knownMissing);
  }

  inspect(folder: FolderInfo, want: { flags: boolean; scan?: FolderScan }): Promise<FolderInfo> {
    return this.target.inspect(folder, want);
  }

  listFolders(): Promise<string[]> {
    return this.target.listFolders();
  }

  specialUseFolder(use: '\\Junk'): Promise<string[] | undefined> {
    return this.target.specialUseFolder(use);
  }

  acceptsFlag(folder: FolderInfo, flag: string): boolean {
    return ImapTarget.acceptsFlag(folder, flag);
  }

  status(folder: FolderInfo): Promise<FolderStatus | undefined> {
    return this.target.status(folder);
  }

  prepareUpload(): void {
    // Failures surface with the first upload.
    this.target.uploadChannel().catch(() => undefined);
  }

  /**
   * Besides the server's own rules, the provider's: a message over its size
   * limit is refused before it is sent (the others go on), and a flag the
   * provider drops from APPEND (Microsoft 365: \Flagged) is set by UID after.
   */
  async upload(folder: FolderInfo, items: readonly UploadItem[], together: boolean): Promise<UploadOutcome[]> {
    const { profile } = this.target.profile;
    const outcomes = new Array<UploadOutcome | undefined>(items.length);
    const send: number[] = [];
    items.forEach((item, i) => {
      const tooBig = oversizeReason(profile, folder.appendLimit, item.content.length);
      if (tooBig !== undefined) outcomes[i] = { outcome: 'refused', detail: tooBig };
      else if (this.budget && !this.budget.admits(item.content.length))
        outcomes[i] = { outcome: 'later', detail: this.budget.stopReason() };
      else send.push(i);
    });
    if (this.budget && send.length > 0) {
      const wait = this.budget.take(
        send.reduce((n, i) => n + items[i]!.content.length, 0),
        performance.now(),
        send.length,
      );
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const isFlagged = (flag: string) => flag.toUpperCase() === '\\FLAGGED';
    const later = profile.flaggedNeedsStore ? send.filter((i) => items[i]!.flags.some(isFlagged)) : [];
    const sent = send.map((i) => (later.includes(i) ? { ...items[i]!, flags: items[i]!.flags.filter((f) => !isFlagged(f)) } : items[i]!));
    const answers = sent.length === 0 ? [] : await this.target.append(folder, sent, together);
    send.forEach((i, k) => (outcomes[i] = uploadOutcome(answers[k]!, this.server)));
    const uids = later.flatMap((i) => {
      const o = outcomes[i]!;
      return o.outcome === 'stored' && o.uid !== undefined ? [o.uid] : [];
    });
    if (uids.length > 0) await this.target.addFlags(folder, uids, ['\\Flagged']);
    await this.label(
      folder,
      send.map((i) => outcomes[i]!),
    );
    return outcomes.map((o) => o!);
  }

  /**
   * --label: the messages just stored get the labels, by the UIDs APPENDUID
   * named (Gmail always sends it). A refusal leaves them proven in the
   * folder, unlabelled, and is told once.
   */
  private async label(folder: FolderInfo, outcomes: readonly UploadOutcome[]): Promise<void> {
    const labelling = this.labelling;
    if (labelling === undefined || labelling.labels.length === 0) return;
    const stored = outcomes.filter((o) => o.outcome === 'stored');
    const uids = stored.flatMap((o) => (o.uid === undefined ? [] : [o.uid]));
    const unnamed = stored.length - uids.length;
    const refused = uids.length > 0 && !(await this.target.addLabels(folder, uids, labelling.labels));
    if ((refused || unnamed > 0) && !labelling.warned) {
      labelling.warned = true;
      const names = labelling.labels.map((l) => `'${l}'`).join(', ');
      labelling.warn(
        refused
          ? `IMAP server ${this.server} refused to add the label ${names} (UID STORE +X-GM-LABELS): some messages are in folder '${folder.path}' without it.`
          : `IMAP server ${this.server} did not say the UID of ${unnamed} uploaded message(s) (no APPENDUID): they are in folder '${folder.path}' without the label ${names}.`,
      );
    }
  }

  fetchBodies(folder: FolderInfo, uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void): Promise<void> {
    return this.target.fetchBodies(folder, uids, binary, each);
  }

  close(): Promise<void> {
    return this.target.close();
  }
}
