/**
 * What one transfer pass (transfer.ts) is given: the options, the live
 * source session and its listing, the destination once ready, the ledger,
 * and the run's state it reads and advances.
 */
import type { PrepareOptions } from '../message/prepared-message.js';
import type { Listing } from '../store/listing.js';
import type { FolderInfo, MailDestination, MailSource } from '../store/mail-store.js';
import type { DedupIndex, UnknownUpload } from './dedup-index.js';
import type { FolderWatch } from './folder-watch.js';
import type { Ledger } from './ledger.js';
import type { Charge } from './poison.js';
import type { StopSignal } from './stop-signal.js';

export interface TransferOptions extends PrepareOptions {
  dedupe: boolean;
  dryRun: boolean;
  multiAppend: boolean;
  batchMessages: number;
  batchBytes: number;
  maxInflightBytes: number;
  maxErrors: number | undefined;
}

/** The destination side, ready for decisions and uploads. */
export interface Destination {
  destination: MailDestination;
  folder: FolderInfo;
  dedup: DedupIndex;
  /** Reads the folder again and has `dedup` look copies up there (see TransferPass.refusedTogether). */
  reread(): Promise<void>;
  /** Watches the folder for another writer between batches (with --dedupe). */
  watch?: FolderWatch;
}

export interface TransferContext {
  source: MailSource;
  /**
   * Resolves once the folder is indexed. Reading starts before that, so the
   * source's round trips overlap the destination's; the first message waits.
   */
  destination: Promise<Destination>;
  /** Number and size of each message id on the current source session. */
  listing: Listing;
  ledger: Ledger;
  stop: StopSignal;
  /** Ids whose upload was cut off before the server answered. */
  unknown: Set<string>;
  /** Of those, what tells their copies apart (DedupIndex.unclaimedCopy), for each that is known. */
  unknownUploads: Map<string, UnknownUpload>;
  /** For such an id cut off in an earlier run: the folder's UIDNEXT before that run (DedupIndex.unclaimedCopy). */
  sentFrom?(uidl: string, keys: readonly string[]): number | undefined;
  /** Called after each upload batch settles (the journal is flushed there). */
  onBatch(): void;
  warnOnce(key: string, message: string): void;
  /** Messages to upload alone, so that a drop during their upload names them alone. */
  uploadAlone?(uidl: string): boolean;
  /** Before a pass rethrows a session's failure: the messages being read or uploaded when it came. */
  hit?(charges: Charge[]): void;
  /**
   * Whether a message belongs in another folder of this run (marked as spam,
   * with --junk): it is settled as routed, not uploaded here, unless this
   * folder holds it already.
   */
  elsewhere?(content: Buffer): boolean;
}
