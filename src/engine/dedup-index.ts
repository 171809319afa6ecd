import { copyDigests, judgeCopy, type CopyDigests } from '../message/copy-rule.js';
import { indexKeyOf, isFallbackKey } from '../message/identity-key.js';
import { lineSketch, similarity } from '../message/line-sketch.js';
import type { IndexedMessage } from '../store/mail-store.js';
import type { CopyLookup } from './copy-lookup.js';
import type { DuplicateReport } from './summary.js';

/** An upload of this run whose outcome is unknown, as far as telling its copy from another's needs. */
export interface UnknownUpload {
  digests: CopyDigests;
  /** Its lines in no order (message/line-sketch.ts). */
  sketch: Uint32Array;
  /** Its key and alternative keys. */
  keys: readonly string[];
}

/** Octets of one message's digests in `runDigests`: its exact and tolerant digests, 16 each. */
const DIGEST_BYTES = 32;

/**
 * The keys already on the destination plus those uploaded earlier in this
 * run. A key says only that two messages may be one (a Message-ID is a
 * claim: sensors and broken mailers send every message under one), so a
 * message is a duplicate only when a copy with its key is that message by
 * the copy rule (message/copy-rule.ts), the rule --delete proves copies by:
 * a copy in the folder is fetched and compared, one uploaded earlier in this
 * run is compared by the digests kept of it (32 octets a message, never its
 * bytes). The report says which copy was kept and whether its size differs.
 */
export class DedupIndex {
  /** Key → position in runUidls/runSizes of the latest message remembered without digests. */
  private readonly thisRun = new Map<string, number>();
  /**
   * Comparison-form digest → position, for messages remembered with digests: a message with a key
   * many others share (every reading of a sensor) is matched in one look-up, not by comparing it with
   * each of them. judgeCopy, which has the last word, can only accept a copy whose comparison form is
   * the message's.
   */
  private readonly runForms = new Map<string, number>();
  private readonly runKeys: string[] = [];
  private readonly runUidls: string[] = [];
  private readonly runSizes: number[] = [];
  /** DIGEST_BYTES per position, all zero when its digests are unknown (a dry run read only headers). */
  private runDigests = Buffer.alloc(0);
  /** A position's `storedAs` digests, for the few messages that have any (see CopyDigests). */
  private readonly runStoredAs = new Map<number, readonly string[]>();

  /**
   * Destination UIDs this run's own uploads account for, kept while an
   * outcome may be unknown (a lost reply, a refused MULTIAPPEND), with the
   * copy-rule digests of the message that claimed each when known.
   */
  private readonly claimed: Map<number, CopyDigests | undefined> | undefined;

  /** The unclaimedCopy lookups under way, in turn. */
  private lookups: Promise<unknown> = Promise.resolve();

  /** Index keys under which a copy the server changed cannot be told to be which upload's (see unclaimedCopy), with those copies' UIDs. */
  private readonly ambiguous = new Map<string, readonly number[]>();

  /** The folder's UIDNEXT when the run first read it: a UID from it on is a message the folder took during the run. */
  readonly newFrom: number | undefined;

  constructor(
    private destination: CopyLookup,
    options: { trackClaims?: boolean; newFrom?: number } = {},
  ) {
    this.claimed = options.trackClaims ? new Map() : undefined;
    this.newFrom = options.newFrom;
  }

  /** Looks copies up in a newer reading of the folder from now on. */
  use(destination: CopyLookup): void {
    this.destination = destination;
  }

  /** Records that a destination UID is the copy of one of this run's uploads (whose digests are `by`, when known). */
  claim(uid: number | undefined, by?: CopyDigests): void {
    if (uid !== undefined) this.claimed?.set(uid, by);
  }

  /**
   * A destination copy of this message that no upload of this run accounts
   * for: the copy of an upload whose outcome was unknown, when there is one.
   * A key may be shared with other messages (a Message-ID by design, a
   * fallback key by what it leaves out), so the copy must be the message by
   * the copy rule. Failing that, a message the folder took during the run
   * under its index key that no upload accounts for is what the server made
   * of it (`changed`: a server that rebuilds messages), and sending it again
   * would store it twice; but only when it is the copy of no other message of
   * this run (one remembered here, or one of `others()`: the other uploads
   * whose outcome is unknown, as they are when its turn comes; undefined when some of them are not known, and
   * then no such message is taken), and, when other such uploads share its
   * key, only when it shares more of its lines with this message than with
   * any of them (message/line-sketch.ts). When none can be told to be whose,
   * and there are fewer such copies than uploads they may be the copies of,
   * some upload was not stored and which one is not known: the message and
   * every other unknown upload under its key are `ambiguous` (sending any of
   * them again might store it twice). `sentFrom`: the folder's UIDNEXT
   * before an earlier run that sent the message and lost the answer, when
   * the folder is still the one it read; the message may have been taken
   * since then.
   */
  async unclaimedCopy(
    key: string,
    content: Buffer,
    altKeys: readonly string[] = [],
    others?: () => readonly UnknownUpload[] | undefined,
    sentFrom?: number,
  ): Promise<{ uid: number; changed: boolean } | { ambiguous: readonly number[] } | undefined> {
    // One at a time: a copy is judged against the claims and the doubts of the lookups before it.
    const turn = this.lookups.then(() => this.unclaimedCopyNow(key, content, altKeys, others?.(), sentFrom));
    this.lookups = turn.catch(() => undefined);
    return turn;
  }

  private async unclaimedCopyNow(
    key: string,
    content: Buffer,
    altKeys: readonly string[],
    others: readonly UnknownUpload[] | undefined,
    sentFrom: number | undefined,
  ): Promise<{ uid: number; changed: boolean } | { ambiguous: readonly number[] } | undefined> {
    const keys = [key, ...altKeys];
    const copies = await this.destination.copies(keys);
    const free = copies.filter((m) => !this.claimed?.has(m.uid));
    const [copy] = await this.destination.sameAs(free, content);
    if (copy !== undefined) {
      this.claim(copy.uid);
      return { uid: copy.uid, changed: false };
    }
    // A copy that is this message, claimed by an upload that is another message: the server named its
    // UID for that upload (an APPENDUID that lies); it cannot be that message's, so it is this one's.
    const mine = copyDigests(content);
    const misclaimed = copies.filter((m) => {
      const by = this.claimed?.get(m.uid);
      return by !== undefined && judgeCopy(by, mine) === 'different';
    });
    const [retaken] = await this.destination.sameAs(misclaimed, content);
    if (retaken !== undefined) {
      this.claim(retaken.uid, mine);
      return { uid: retaken.uid, changed: false };
    }
    const indexKeys = new Set(keys.map(indexKeyOf));
    for (const k of indexKeys) {
      const uids = this.ambiguous.get(k);
      if (uids !== undefined) return { ambiguous: uids };
    }
    const from = sentFrom !== undefined && this.newFrom !== undefined ? Math.min(sentFrom, this.newFrom) : this.newFrom;
    const claimed = this.claimed;
    if (from === undefined || claimed === undefined || others === undefined) return undefined;
    const eligible: IndexedMessage[] = [];
    for (const m of this.destination.candidates(keys)) {
      if (m.uid < from || claimed.has(m.uid)) continue;
      const forms = await this.destination.forms(m);
      const someoneElses = forms.some(
        (d) => this.sameInRun(d) !== undefined || others.some((o) => judgeCopy(o.digests, d) !== 'different'),
      );
      if (!someoneElses) eligible.push(m);
    }
    const rivals = others.filter((o) => o.keys.some((k) => indexKeys.has(indexKeyOf(k))));
    let taken: IndexedMessage | undefined = eligible[0];
    if (taken !== undefined && rivals.length > 0) {
      // Several uploads under this key are unaccounted for: a copy is taken for the one it is most like.
      const mine = lineSketch(content);
      const sketches = await this.destination.sketches(eligible);
      let best = 0;
      taken = undefined;
      for (const m of eligible) {
        const sketch = sketches.get(m.uid);
        if (sketch === undefined) continue;
        const score = similarity(mine, sketch);
        if (score > best && rivals.every((o) => similarity(o.sketch, sketch) < score)) {
          best = score;
          taken = m;
        }
      }
    }
    if (taken === undefined && eligible.length > rivals.length) taken = eligible[0];
    if (taken === undefined && eligible.length > 0) {
      const uids = eligible.map((m) => m.uid);
      for (const k of indexKeys) this.ambiguous.set(k, uids);
      return { ambiguous: uids };
    }
    if (taken === undefined) return undefined;
    this.claim(taken.uid);
    return { uid: taken.uid, changed: true };
  }

  /**
   * A copy no upload of this run accounts for that holds the message's lines
   * in another order (CopyLookup.rebuilt): the server stored the message and
   * serves it rebuilt. Not the message, so no duplicate; not another message,
   * so not to be uploaded again. Asked once check found no copy that is it.
   */
  async rebuiltCopy(key: string, content: Buffer, altKeys: readonly string[] = []): Promise<number | undefined> {
    const found = (await this.destination.rebuilt([key, ...altKeys], content)).find((m) => !this.claimed?.has(m.uid));
    this.claim(found?.uid);
    return found?.uid;
  }

  /**
   * `altKeys` and `altSizes`: what a server that changes messages on storage may make of it (see
   * PreparedMessage). `whole`: the message's bytes and copy-rule digests; without them (a dry run that
   * read only headers) the key alone decides, as nothing can be compared.
   */
  async check(
    key: string,
    size: number,
    uidl: string,
    altKeys: readonly string[] = [],
    altSizes: readonly number[] = [],
    whole?: { content: Buffer; digests: CopyDigests },
  ): Promise<DuplicateReport | undefined> {
    const kept = this.keptInRun(key, whole?.digests);
    if (kept !== undefined) {
      return { uidl, key, keptIn: 'this-run', keptAs: this.runUidls[kept]!, keptUid: undefined, sizeDiffers: this.runSizes[kept] !== size };
    }
    return this.keptCopy(await this.destination.copies([key, ...altKeys]), key, size, uidl, altSizes, whole);
  }

  /** The destination half of check, among the copies no upload of this run accounts for. */
  async onDestination(
    key: string,
    size: number,
    uidl: string,
    altKeys: readonly string[] = [],
    altSizes: readonly number[] = [],
    whole?: { content: Buffer; digests: CopyDigests },
  ): Promise<DuplicateReport | undefined> {
    const copies = await this.destination.copies([key, ...altKeys]);
    return this.keptCopy(
      copies.filter((m) => !this.claimed?.has(m.uid)),
      key,
      size,
      uidl,
      altSizes,
      whole,
    );
  }

  /** The copy among `existing` that is the message: by the copy rule when its bytes are at hand, else by key and size. */
  private async keptCopy(
    existing: readonly IndexedMessage[],
    key: string,
    size: number,
    uidl: string,
    altSizes: readonly number[],
    whole: { content: Buffer; digests: CopyDigests } | undefined,
  ): Promise<DuplicateReport | undefined> {
    if (existing.length === 0) return undefined;
    const ofSize = (m: { size: number }) => m.size === size || altSizes.includes(m.size);
    if (whole !== undefined) {
      const same = await this.destination.compare(existing, whole.content, whole.digests);
      if (same === undefined) {
        // Its copies cannot be compared (NUL bytes, and no FETCH BINARY): the key decides, as before a
        // comparison was possible; --delete still proves the copy before it deletes anything.
      } else {
        const copy = same.find(ofSize) ?? same[0];
        if (copy === undefined) return undefined;
        return { uidl, key, keptIn: 'destination', keptAs: `UID ${copy.uid}`, keptUid: copy.uid, sizeDiffers: !ofSize(copy) };
      }
    }
    // A fallback key is found only on a copy with the same body: its size may differ by what the server changed.
    const byContent = isFallbackKey(key);
    const same = existing.find((m) => byContent || ofSize(m));
    const copy = same ?? existing[0]!;
    return { uidl, key, keptIn: 'destination', keptAs: `UID ${copy.uid}`, keptUid: copy.uid, sizeDiffers: same === undefined };
  }

  /**
   * The position of a message of this run with `key` that is the message whose digests are `digests`
   * (by the copy rule); one remembered without digests (a dry run) is taken on its key.
   */
  private keptInRun(key: string, digests: CopyDigests | undefined): number | undefined {
    const byKey = this.thisRun.get(key);
    if (byKey !== undefined || digests === undefined) return byKey;
    const at = this.sameInRun(digests);
    return at !== undefined && this.runKeys[at] === key ? at : undefined;
  }

  /** The position of a message of this run, whatever its key, that is by the copy rule the message whose digests are `digests`. */
  private sameInRun(digests: CopyDigests): number | undefined {
    const at = this.runForms.get(digests.tolerant);
    const theirs = at === undefined ? undefined : this.digestsAt(at);
    return theirs !== undefined && judgeCopy(theirs, digests) !== 'different' ? at : undefined;
  }

  private digestsAt(at: number): CopyDigests | undefined {
    if (this.runDigests.length < (at + 1) * DIGEST_BYTES) return undefined;
    const bytes = this.runDigests.subarray(at * DIGEST_BYTES, (at + 1) * DIGEST_BYTES);
    if (bytes.every((b) => b === 0)) return undefined;
    return { exact: bytes.toString('hex', 0, 16), tolerant: bytes.toString('hex', 16), storedAs: this.runStoredAs.get(at) ?? [] };
  }

  /** A message of this run that will be uploaded; `digests` (copy-rule.ts) tell later messages with its key whether they are it. */
  remember(key: string, size: number, uidl: string, digests?: CopyDigests): void {
    const at = this.runUidls.length;
    this.runUidls.push(uidl);
    this.runSizes.push(size);
    this.runKeys.push(key);
    if (digests === undefined) {
      this.thisRun.set(key, at);
      return;
    }
    this.runForms.set(digests.tolerant, at);
    if (digests.storedAs.length > 0) this.runStoredAs.set(at, digests.storedAs);
    if (this.runDigests.length < (at + 1) * DIGEST_BYTES) {
      // Grown by doubling: positions without digests stay zero.
      const grown = Buffer.alloc(Math.max(1024, 2 * (at + 1)) * DIGEST_BYTES);
      this.runDigests.copy(grown);
      this.runDigests = grown;
    }
    Buffer.from(digests.exact + digests.tolerant, 'hex').copy(this.runDigests, at * DIGEST_BYTES);
  }
}
