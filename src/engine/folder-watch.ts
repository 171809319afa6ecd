/**
 * Notices another writer in the folder while this run uploads into it: a
 * run on another machine (which no lock of this machine can see) that read
 * the same source mailbox. The folder's UIDNEXT moves by one for each message
 * stored; when it moved further than the messages this run sent since the
 * folder was read, someone else appended, and the folder is read again
 * before the next batch (see TransferPass.notAppendedMeanwhile). Two such
 * runs can still both send the batch each had in flight; not every batch
 * after it.
 */
import type { FolderStatus } from '../store/mail-store.js';

export class FolderWatch {
  /** Messages this run stored since `base` was read. */
  private stored = 0;
  /** Messages handed to the server whose upload has not answered yet: they may have moved UIDNEXT already. */
  private inflight = 0;
  /** Whether this run sent anything since the folder was read: the first batch needs no look. */
  private touched = false;

  /** `base`: the folder's UIDNEXT when its index was read (undefined: unknown, nothing is watched). */
  constructor(private base: number | undefined) {}

  get sentAny(): boolean {
    return this.touched;
  }

  sending(count: number): void {
    this.touched = true;
    this.inflight += count;
  }

  /** An upload of `count` messages answered; `stored` of them were stored (a refused or throttled one takes no UID). */
  answered(count: number, stored: number): void {
    this.inflight -= count;
    this.stored += stored;
  }

  /** Whether the folder's UIDNEXT in `status` moved further than this run's uploads explain. */
  othersAppended(status: FolderStatus | undefined): boolean {
    return status !== undefined && this.base !== undefined && status.uidNext - this.base > this.stored + this.inflight;
  }

  /** The folder was read again at `uidNext`; the uploads still unanswered may yet land after it. */
  restart(uidNext: number): void {
    this.base = uidNext;
    this.stored = 0;
  }
}
