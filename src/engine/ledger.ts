/**
 * The one place where what became of a message is recorded. The run's
 * outcome table, the summary, the journal and the progress all follow from
 * the same call, so they cannot disagree.
 */
import { sketchToText } from '../message/line-sketch.js';
import type { JournalWriter } from '../state/journal.js';
import type { UnknownUpload } from './dedup-index.js';
import type { SettledMessages } from './settled.js';
import type { DuplicateReport, FailureReport, MigrationSummary, PlannedAppend } from './summary.js';

export interface LedgerHooks {
  /** A message is settled: `bytes` of the planned total are done. */
  advance(bytes: number): void;
  onFailure?(failure: FailureReport): void;
}

export class Ledger {
  /** Messages whose bytes differ in length from what the source listed: copied, never deleted. */
  private readonly suspects = new Set<string>();

  constructor(
    readonly settled: SettledMessages,
    readonly summary: MigrationSummary,
    private readonly journal: JournalWriter | undefined,
    private readonly hooks: LedgerHooks,
    /** The folder's UIDVALIDITY, recorded with the destination UIDs it qualifies. */
    private readonly uidValidity: () => bigint | undefined,
    /** The size the source listed a message with, recorded so a later run can tell it is the same message. */
    readonly listSize: (uidl: string) => number | undefined = () => undefined,
    /**
     * Whether the id names one message by the server's own well-formed UIDL
     * (Listing.identified). Only such a message gets a journal entry: a later
     * session's message under an id a server repeated or made up could be
     * another message, and the entry would vouch for it.
     */
    private readonly identified: (uidl: string) => boolean = () => true,
  ) {}

  /** The source sent this message with another length than it listed (see RetrievedInfo). */
  suspect(uidl: string): void {
    this.suspects.add(uidl);
  }

  isSuspect(uidl: string): boolean {
    return this.suspects.has(uidl);
  }

  get suspectCount(): number {
    return this.suspects.size;
  }

  appended(uidl: string, key: string, size: number, uid: number | undefined, uidValidity: bigint | undefined): void {
    // One bigint for the folder rather than one per message: a run keeps these for the whole mailbox.
    const folderValidity = this.uidValidity();
    const validity = uidValidity !== undefined && uidValidity === folderValidity ? folderValidity : uidValidity;
    this.settled.set(uidl, { outcome: 'appended', key, size, uid, uidValidity: validity });
    this.summary.appended++;
    this.summary.bytes += size;
    this.journalStored('appended', uidl, key, size, uid, validity);
    this.hooks.advance(size);
  }

  duplicate(report: DuplicateReport, size: number): void {
    const { uidl, key, sizeDiffers, keptIn, keptAs, keptUid } = report;
    this.settled.set(uidl, { outcome: 'duplicate', key, size, sizeDiffers, keptIn, keptAs, keptUid });
    this.summary.duplicates++;
    this.summary.duplicateList.push(report);
    if (this.identified(uidl))
      this.journal?.add({
        t: 'duplicate',
        uidl,
        key,
        size,
        listSize: this.listSize(uidl),
        ...this.suspectMark(uidl),
        sizeDiffers,
        uid: keptUid,
        uidValidity: keptUid === undefined ? undefined : this.uidValidity()?.toString(),
      });
    this.hooks.advance(size);
  }

  /**
   * An upload whose answer was lost with the connection: the next run looks
   * for its copy before sending it again, whatever --dedupe says, among
   * other places at the folder's UIDs from `from` (its UIDNEXT when this run
   * first read it).
   */
  unanswered(uidl: string, from: number | undefined, upload: UnknownUpload | undefined): void {
    if (!this.identified(uidl)) return;
    const uidValidity = from === undefined ? undefined : this.uidValidity();
    this.journal?.add({
      t: 'unanswered',
      uidl,
      ...(uidValidity === undefined ? {} : { from, uidValidity: uidValidity.toString() }),
      ...(upload === undefined
        ? {}
        : {
            keys: [...upload.keys],
            digests: { ...upload.digests, storedAs: [...upload.digests.storedAs] },
            sketch: sketchToText(upload.sketch),
          }),
    });
  }

  /** `poison`: the message failed because the server drops the connection on it (the journal counts such runs). */
  failed(failure: FailureReport, bytes: number, poison = false): void {
    this.settled.set(failure.uidl, { outcome: 'failed' });
    this.summary.failed++;
    this.summary.failures.push(failure);
    this.journal?.add({
      t: 'failed',
      uidl: failure.uidl,
      reason: failure.reason,
      ...(poison ? { poison: true as const, side: failure.side, listSize: this.listSize(failure.uidl) } : {}),
    });
    this.hooks.onFailure?.(failure);
    this.hooks.advance(bytes);
  }

  /**
   * An upload the server accepted whose copy is not in the folder: it was
   * not appended after all, and fails.
   */
  missing(uidl: string, reason: string): void {
    const r = this.settled.get(uidl);
    if (r?.outcome !== 'appended') return;
    this.summary.appended--;
    this.summary.bytes -= r.size;
    this.settled.set(uidl, { outcome: 'failed' });
    const failure = { uidl, side: 'IMAP' as const, reason };
    this.summary.failed++;
    this.summary.failures.push(failure);
    this.journal?.add({ t: 'missing', uidl });
    this.hooks.onFailure?.(failure);
  }

  /**
   * The folder took this message (at `uid`, in the folder's UIDVALIDITY,
   * when known) but stored something the copy rule does not accept as it:
   * stored changed, not proven. Counted apart from what was appended, never
   * uploaded again (the journal vouches for it as such) and never deleted.
   * `reason` says what was found; `advance`: the message is one of this run's plan.
   */
  storedChanged(uidl: string, key: string, size: number, uid: number | undefined, reason: string, advance = true): void {
    const r = this.settled.get(uidl);
    if (r?.outcome === 'changed') return;
    if (r?.outcome === 'appended') {
      this.summary.appended--;
      this.summary.bytes -= r.size;
    }
    const validity = uid === undefined ? undefined : this.uidValidity();
    this.settled.set(uidl, { outcome: 'changed', key, size, uid, uidValidity: validity });
    this.summary.storedChanged++;
    this.summary.changedList.push({ uidl, side: 'IMAP', reason });
    this.journalStored('changed', uidl, key, size, uid, validity);
    if (r === undefined && advance) this.hooks.advance(size);
  }

  /** The journal entry of a message the folder took, as it was or changed (only for a message its listing identifies). */
  private journalStored(
    t: 'appended' | 'changed',
    uidl: string,
    key: string,
    size: number,
    uid: number | undefined,
    validity: bigint | undefined,
  ): void {
    if (!this.identified(uidl)) return;
    this.journal?.add({
      t,
      uidl,
      key,
      size,
      listSize: this.listSize(uidl),
      uid,
      uidValidity: validity?.toString(),
      ...this.suspectMark(uidl),
    });
  }

  /**
   * A message an earlier run found stored changed (see storedChanged), listed again: still not proven.
   */
  stillChanged(uidl: string, reason: string): void {
    this.summary.storedChanged++;
    this.summary.changedList.push({ uidl, side: 'IMAP', reason });
  }

  /**
   * --delete found that no copy in the folder is this message (by the copy
   * rule): whatever the run recorded for it, it is not done. It stays on the
   * source, fails (so the run cannot exit 0), and the journal no longer
   * vouches for it, so the next run looks for its copy by its bytes again.
   */
  unproven(uidl: string, reason: string): void {
    const r = this.settled.get(uidl);
    if (r?.outcome === 'failed' || r?.outcome === 'planned') return;
    if (r?.outcome === 'appended') {
      this.summary.appended--;
      this.summary.bytes -= r.size;
    } else if (r?.outcome === 'duplicate') {
      this.summary.duplicates--;
      this.summary.duplicateList = this.summary.duplicateList.filter((d) => d.uidl !== uidl);
    }
    this.settled.set(uidl, { outcome: 'failed' });
    const failure = { uidl, side: 'IMAP' as const, reason };
    this.summary.failed++;
    this.summary.failures.push(failure);
    this.journal?.add({ t: 'missing', uidl });
    this.hooks.onFailure?.(failure);
  }

  /** Every upload recorded so far is proven in the folder (or recorded missing). */
  confirmed(): void {
    this.journal?.add({ t: 'confirmed' });
    this.journal?.flush();
  }

  /** The folder's identity, recorded before anything is uploaded into it. */
  folder(uidValidity: bigint): void {
    this.journal?.add({ t: 'folder', uidValidity: uidValidity.toString(), at: new Date().toISOString() });
    this.journal?.flush();
  }

  /** Dry run: the message would be uploaded. */
  planned(plan: PlannedAppend): void {
    this.settled.set(plan.uidl, { outcome: 'planned' });
    this.summary.wouldAppend.push(plan);
    this.summary.bytes += plan.size;
    this.hooks.advance(plan.size);
  }

  /**
   * The message goes to the junk folder, which another part of the run fills
   * (see MigrateOptions.junk): nothing is counted or journaled here; that
   * part counts and journals it in the junk folder's own journal.
   */
  routed(uidl: string, size: number): void {
    this.settled.set(uidl, { outcome: 'routed' });
    this.hooks.advance(size);
  }

  deleted(uidls: readonly string[]): void {
    for (const uidl of uidls) this.journal?.add({ t: 'deleted', uidl });
    this.journal?.flush();
    this.summary.deleted += uidls.length;
  }

  private suspectMark(uidl: string): { suspect?: true } {
    return this.suspects.has(uidl) ? { suspect: true } : {};
  }

  /** Makes what was recorded so far durable. */
  flush(): void {
    this.journal?.flush();
  }
}
