import type { FolderIndex } from '../store/mail-store.js';
import type { DuplicateReport } from './summary.js';

/**
 * The keys already on the destination plus those uploaded earlier in this
 * run. A message is a duplicate when its key is known; the report says which
 * copy was kept and whether its size differs (then the two may be different
 * messages that share a Message-ID, which the user should look at).
 */
export class DedupIndex {
  /** Key → position in runUidls/runSizes: two array slots per message instead of an object. */
  private readonly thisRun = new Map<string, number>();
  private readonly runUidls: string[] = [];
  private readonly runSizes: number[] = [];

  /** Destination UIDs this run's own uploads account for (kept only while some outcome is unknown). */
  private readonly claimed: Set<number> | undefined;

  constructor(
    private readonly destination: FolderIndex,
    options: { trackClaims?: boolean } = {},
  ) {
    this.claimed = options.trackClaims ? new Set() : undefined;
  }

  /** Records that a destination UID is the copy of one of this run's uploads. */
  claim(uid: number | undefined): void {
    if (uid !== undefined) this.claimed?.add(uid);
  }

  /**
   * A destination copy with this key and size (or a rewritten size, see
   * check) that no upload of this run accounts for: the copy of an upload
   * whose outcome was unknown, when there is one.
   */
  unclaimedCopy(key: string, size: number, altKeys: readonly string[] = [], altSizes: readonly number[] = []): number | undefined {
    for (const k of [key, ...altKeys]) {
      for (const m of this.destination.get(k) ?? []) {
        if ((m.size === size || altSizes.includes(m.size)) && !this.claimed?.has(m.uid)) {
          this.claim(m.uid);
          return m.uid;
        }
      }
    }
    return undefined;
  }

  /**
   * `altKeys` and `altSizes` describe the same message as a server that
   * rewrites CR runs before LF would store it (see PreparedMessage).
   */
  check(
    key: string,
    size: number,
    uidl: string,
    altKeys: readonly string[] = [],
    altSizes: readonly number[] = [],
  ): DuplicateReport | undefined {
    const kept = this.thisRun.get(key);
    if (kept !== undefined) {
      return { uidl, key, keptIn: 'this-run', keptAs: this.runUidls[kept]!, keptUid: undefined, sizeDiffers: this.runSizes[kept] !== size };
    }
    const existing = [key, ...altKeys].map((k) => this.destination.get(k)).find((list) => list && list.length > 0);
    if (existing) {
      const same = existing.find((m) => m.size === size || altSizes.includes(m.size));
      const copy = same ?? existing[0]!;
      return { uidl, key, keptIn: 'destination', keptAs: `UID ${copy.uid}`, keptUid: copy.uid, sizeDiffers: same === undefined };
    }
    return undefined;
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
