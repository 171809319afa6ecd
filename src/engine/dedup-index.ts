import type { IndexedMessage } from '../store/mail-store.js';
import type { CopyLookup } from './copy-lookup.js';
import type { DuplicateReport } from './summary.js';

/**
 * The keys already on the destination plus those uploaded earlier in this
 * run. A message is a duplicate when a copy with its key is found (see
 * CopyLookup); the report says which copy was kept and whether its size
 * differs (then the two may be different messages that share a Message-ID,
 * which the user should look at).
 */
export class DedupIndex {
  /** Key → position in runUidls/runSizes: two array slots per message instead of an object. */
  private readonly thisRun = new Map<string, number>();
  private readonly runUidls: string[] = [];
  private readonly runSizes: number[] = [];

  /**
   * Destination UIDs this run's own uploads account for, kept while an
   * outcome may be unknown (a lost reply, a refused MULTIAPPEND).
   */
  private readonly claimed: Set<number> | undefined;

  constructor(
    private destination: CopyLookup,
    options: { trackClaims?: boolean } = {},
  ) {
    this.claimed = options.trackClaims ? new Set() : undefined;
  }

  /** Looks copies up in a newer reading of the folder from now on. */
  use(destination: CopyLookup): void {
    this.destination = destination;
  }

  /** Records that a destination UID is the copy of one of this run's uploads. */
  claim(uid: number | undefined): void {
    if (uid !== undefined) this.claimed?.add(uid);
  }

  /**
   * A destination copy of this message that no upload of this run accounts
   * for: the copy of an upload whose outcome was unknown, when there is one.
   * A key may be shared with other messages (a Message-ID by design, a
   * fallback key by what it leaves out), so the copy must be the message by
   * the copy rule.
   */
  async unclaimedCopy(key: string, content: Buffer, altKeys: readonly string[] = []): Promise<number | undefined> {
    const copies = await this.destination.copies([key, ...altKeys]);
    const free = copies.filter((m) => !this.claimed?.has(m.uid));
    const [copy] = await this.destination.sameAs(free, content);
    this.claim(copy?.uid);
    return copy?.uid;
  }

  /** `altKeys` and `altSizes`: what a server that changes messages on storage may make of it (see PreparedMessage). */
  async check(
    key: string,
    size: number,
    uidl: string,
    altKeys: readonly string[] = [],
    altSizes: readonly number[] = [],
  ): Promise<DuplicateReport | undefined> {
    const kept = this.thisRun.get(key);
    if (kept !== undefined) {
      return { uidl, key, keptIn: 'this-run', keptAs: this.runUidls[kept]!, keptUid: undefined, sizeDiffers: this.runSizes[kept] !== size };
    }
    return this.keptCopy(await this.destination.copies([key, ...altKeys]), key, size, uidl, altSizes);
  }

  /** The destination half of check, among the copies no upload of this run accounts for. */
  async onDestination(
    key: string,
    size: number,
    uidl: string,
    altKeys: readonly string[] = [],
    altSizes: readonly number[] = [],
  ): Promise<DuplicateReport | undefined> {
    const copies = await this.destination.copies([key, ...altKeys]);
    return this.keptCopy(
      copies.filter((m) => !this.claimed?.has(m.uid)),
      key,
      size,
      uidl,
      altSizes,
    );
  }

  private keptCopy(
    existing: readonly IndexedMessage[],
    key: string,
    size: number,
    uidl: string,
    altSizes: readonly number[],
  ): DuplicateReport | undefined {
    if (existing.length === 0) return undefined;
    // A fallback key is found only on a copy with the same body: its size may differ by what the server changed.
    const byContent = key.startsWith('fb:');
    const same = existing.find((m) => byContent || m.size === size || altSizes.includes(m.size));
    const copy = same ?? existing[0]!;
    return { uidl, key, keptIn: 'destination', keptAs: `UID ${copy.uid}`, keptUid: copy.uid, sizeDiffers: same === undefined };
  }

  remember(key: string, size: number, uidl: string): void {
    const at = this.thisRun.get(key);
    if (at !== undefined) {
      this.runUidls[at] = uidl;
      this.runSizes[at] = size;
      return;
    }
    this.thisRun.set(key, this.runUidls.length);
    this.runUidls.push(uidl);
    this.runSizes.push(size);
  }
}
