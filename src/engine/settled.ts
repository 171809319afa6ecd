/**
 * What became of each message of this run, by UIDL. A run keeps it for the
 * whole mailbox (deletes are decided from it at the end), so it is stored in
 * columns by the message's position in the first listing rather than as an
 * object per message; a UIDL that listing does not have (the source changed
 * between sessions) is kept in an ordinary map.
 */
import type { CopyDigests } from '../message/copy-rule.js';
import type { Listing } from '../store/listing.js';

/** What became of one message in this run. */
export type Settled =
  | { outcome: 'appended'; key: string; size: number; uid: number | undefined; uidValidity: bigint | undefined }
  | {
      outcome: 'duplicate';
      key: string;
      size: number;
      sizeDiffers: boolean;
      keptIn: 'destination' | 'this-run';
      keptAs: string;
      keptUid: number | undefined;
    }
  /**
   * The folder took it (the UID the server named, or a message new in the
   * folder with its key), but what it stored is not the message by the copy
   * rule: a server that rebuilds messages. Never uploaded again, never deleted.
   */
  | { outcome: 'changed'; key: string; size: number; uid: number | undefined; uidValidity: bigint | undefined }
  | { outcome: 'failed' }
  /** Dry run: would be uploaded. */
  | { outcome: 'planned' }
  /** Marked as spam by the source's filter: another folder of this run takes it (see MigrateOptions.junk). */
  | { outcome: 'routed' };

type Duplicate = Extract<Settled, { outcome: 'duplicate' }>;

const NONE = 0;
const OUTCOMES = ['appended', 'duplicate', 'failed', 'planned', 'changed', 'routed'] as const;

export class SettledMessages {
  private listingValue: Listing | undefined;
  /** 0 while unsettled, else 1 + the index in OUTCOMES. */
  private outcome = new Uint8Array(0);
  private sizes = new Float64Array(0);
  /** NaN when the server gave no UID. */
  private uids = new Float64Array(0);
  private keys: Array<string | undefined> = [];
  private validities: Array<bigint | undefined> = [];
  private readonly duplicates = new Map<number, Pick<Duplicate, 'sizeDiffers' | 'keptIn' | 'keptAs' | 'keptUid'>>();
  private readonly others = new Map<string, Settled>();
  private count = 0;
  /**
   * The copy-rule digests of the messages read with them (only when they
   * will be deleted): 32 bytes per position, all zero when there are none.
   */
  private digestBytes = new Uint8Array(0);
  /** CopyDigests.storedAs, for the few messages that have any (see message/copy-rule.ts). */
  private readonly storedAs = new Map<number, readonly string[]>();
  private readonly otherDigests = new Map<string, CopyDigests>();

  /** Positions come from this listing from now on; only before anything is settled. */
  useListing(listing: Listing): void {
    if (this.size > 0) throw new Error('SettledMessages.useListing after messages were settled');
    const n = listing.order.length;
    this.listingValue = listing;
    this.outcome = new Uint8Array(n);
    this.sizes = new Float64Array(n);
    this.uids = new Float64Array(n);
    this.keys = new Array<string | undefined>(n);
    this.validities = new Array<bigint | undefined>(n);
    this.digestBytes = new Uint8Array(0);
    this.storedAs.clear();
  }

  /** Records what the copy rule needs to prove a copy of this message later (see message/copy-rule.ts). */
  setDigests(uidl: string, digests: CopyDigests): void {
    const i = this.listingValue?.position(uidl);
    if (i === undefined) {
      this.otherDigests.set(uidl, digests);
      return;
    }
    // Allocated on first use: runs that delete nothing never hold them.
    if (this.digestBytes.length === 0) this.digestBytes = new Uint8Array(this.outcome.length * 32);
    this.digestBytes.set(Buffer.from(digests.exact, 'hex'), i * 32);
    this.digestBytes.set(Buffer.from(digests.tolerant, 'hex'), i * 32 + 16);
    if (digests.storedAs.length > 0) this.storedAs.set(i, digests.storedAs);
    else this.storedAs.delete(i);
  }

  digests(uidl: string): CopyDigests | undefined {
    const i = this.listingValue?.position(uidl);
    if (i === undefined) return this.otherDigests.get(uidl);
    if (this.digestBytes.length === 0) return undefined;
    const bytes = this.digestBytes.subarray(i * 32, i * 32 + 32);
    if (bytes.every((b) => b === 0)) return undefined;
    return {
      exact: Buffer.from(bytes.subarray(0, 16)).toString('hex'),
      tolerant: Buffer.from(bytes.subarray(16)).toString('hex'),
      storedAs: this.storedAs.get(i) ?? [],
    };
  }

  /** The listing positions come from: the run's first. */
  get listing(): Listing | undefined {
    return this.listingValue;
  }

  get size(): number {
    return this.count + this.others.size;
  }

  has(uidl: string): boolean {
    const i = this.listingValue?.position(uidl);
    return i === undefined ? this.others.has(uidl) : this.outcome[i] !== NONE;
  }

  get(uidl: string): Settled | undefined {
    const i = this.listingValue?.position(uidl);
    return i === undefined ? this.others.get(uidl) : this.at(i);
  }

  set(uidl: string, s: Settled): void {
    const i = this.listingValue?.position(uidl);
    if (i === undefined) {
      this.others.set(uidl, s);
      return;
    }
    if (this.outcome[i] === NONE) this.count++;
    this.outcome[i] = 1 + OUTCOMES.indexOf(s.outcome);
    this.duplicates.delete(i);
    this.keys[i] = undefined;
    this.validities[i] = undefined;
    this.sizes[i] = 0;
    this.uids[i] = Number.NaN;
    if (s.outcome === 'appended' || s.outcome === 'changed') {
      this.keys[i] = s.key;
      this.sizes[i] = s.size;
      this.uids[i] = s.uid ?? Number.NaN;
      this.validities[i] = s.uidValidity;
    } else if (s.outcome === 'duplicate') {
      this.keys[i] = s.key;
      this.sizes[i] = s.size;
      this.duplicates.set(i, { sizeDiffers: s.sizeDiffers, keptIn: s.keptIn, keptAs: s.keptAs, keptUid: s.keptUid });
    }
  }

  /** Every settled message, those of the listing first, in its order. */
  *entries(): IterableIterator<[string, Settled]> {
    const order = this.listingValue?.order;
    for (let i = 0; i < (order?.length ?? 0); i++) {
      const s = this.at(i);
      if (s !== undefined) yield [order!.at(i)!, s];
    }
    yield* this.others;
  }

  [Symbol.iterator](): IterableIterator<[string, Settled]> {
    return this.entries();
  }

  private at(i: number): Settled | undefined {
    const code = this.outcome[i]!;
    if (code === NONE) return undefined;
    const outcome = OUTCOMES[code - 1]!;
    if (outcome === 'appended' || outcome === 'changed') {
      const uid = this.uids[i]!;
      return {
        outcome,
        key: this.keys[i]!,
        size: this.sizes[i]!,
        uid: Number.isNaN(uid) ? undefined : uid,
        uidValidity: this.validities[i],
      };
    }
    if (outcome === 'duplicate') return { outcome, key: this.keys[i]!, size: this.sizes[i]!, ...this.duplicates.get(i)! };
    return { outcome };
  }
}
