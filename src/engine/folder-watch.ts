/**
 * Notices another writer in the folder while this run uploads into it: a
 * run on another machine (which no lock of this machine can see) that read
 * the same POP3 mailbox. The folder's UIDNEXT moves by one for each message
 * stored; when it moved further than the messages this run sent since the
 * folder was read, someone else appended, and the folder is read again
 * before the next batch (see TransferPass.notAppendedMeanwhile). Two such
 * runs can still both send the batch each had in flight; not every batch
 * after it.
 */
import type { FolderStatus } from '../store/mail-store.js';

export class FolderWatch {
  /** Messages handed to the server since `base` was read. */
  private sent = 0;
  /** Of those, the ones whose upload has not answered yet: they may still move UIDNEXT. */
  private inflight = 0;

  /** `base`: the folder's UIDNEXT when its index was read (undefined: unknown, nothing is watched). */
  constructor(private base: number | undefined) {}

  /** Whether this run sent anything since the folder was read: the first batch needs no look. */
  get sentAny(): boolean {
    return this.sent > 0;
  }

  sending(count: number): void {
    this.sent += count;
    this.inflight += count;
  }

  answered(count: number): void {
    this.inflight -= count;
  }

  /** Whether the folder's UIDNEXT in `status` moved further than this run's uploads explain. */
  othersAppended(status: FolderStatus | undefined): boolean {
    return status !== undefined && this.base !== undefined && status.uidNext - this.base > this.sent;
  }

  /** The folder was read again at `uidNext`; the uploads still unanswered may yet land after it. */
  restart(uidNext: number): void {
    this.base = uidNext;
    this.sent = this.inflight;
  }
}
