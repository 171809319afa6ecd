/**
 * Finding a message's copies in the destination folder by its identity key
 * (message/identity-key.ts). The folder is indexed from header fields alone:
 * a Message-ID key names its copies directly, while a fallback key names only
 * candidates with the same Date, From, To, Cc and Subject. A candidate is a
 * copy only when the fallback key of its own bytes, fetched from the folder,
 * is the message's (or one a server change gives it): equal headers and an
 * equal size do not make two messages one.
 */
import { copyDigests, judgeCopy, movedLinesDigest, type CopyDigests } from '../message/copy-rule.js';
import { contentKeyOfMessage, indexKeyOf, isFallbackKey } from '../message/identity-key.js';
import { lineSketch } from '../message/line-sketch.js';
import type { FolderIndex, IndexedMessage } from '../store/mail-store.js';

/**
 * Hands each of `uids` still in the folder to `each`, whole, one at a time;
 * with `binary`, as FETCH BINARY returns them (NUL bytes kept) where the
 * store can.
 */
export type FetchCopies = (uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void) => Promise<void>;

/** What was learnt of a copy fetched: the key of its bytes, its copy-rule digests and its lines in no order. */
export interface KnownCopy {
  key: string;
  digests: CopyDigests;
  moved: string;
}

/** What was learnt of each copy fetched, by UID, for one UIDVALIDITY of the folder. */
export type CopyKeys = Map<number, KnownCopy>;

/** A fallback key made from header fields and a size (a dry run that read only headers): `fb:<digest>/<size>`. */
function sizeOfHeaderKey(key: string): number | undefined {
  const slash = key.indexOf('/');
  return isFallbackKey(key) && slash !== -1 ? Number(key.slice(slash + 1)) : undefined;
}

export class CopyLookup {
  constructor(
    private readonly index: FolderIndex,
    private readonly fetch: FetchCopies,
    /** Shared between lookups of one folder, so no copy is fetched twice in a run. */
    private readonly known: CopyKeys = new Map(),
    /** Whether the store returns a message with NUL bytes as stored (FETCH BINARY); asked only for such a message. */
    private readonly readsBinary: () => Promise<boolean> = () => Promise.resolve(true),
  ) {}

  /** The folder's messages indexed under any of `keys`, each once: for fallback keys, candidates only. */
  candidates(keys: readonly string[]): IndexedMessage[] {
    const seen = new Set<number>();
    const out: IndexedMessage[] = [];
    for (const key of keys) {
      for (const m of this.index.get(indexKeyOf(key)) ?? []) {
        if (seen.has(m.uid)) continue;
        seen.add(m.uid);
        out.push(m);
      }
    }
    return out;
  }

  /**
   * The copies of the message whose key and alternative keys are `keys`
   * (the key first): every candidate for a Message-ID key; for a fallback
   * key, the candidates whose bytes carry one of `keys`, or for a key made
   * from headers and a size, the candidates of that size.
   */
  async copies(keys: readonly string[]): Promise<IndexedMessage[]> {
    const [key] = keys;
    const candidates = this.candidates(keys);
    if (key === undefined || !isFallbackKey(key) || candidates.length === 0) return candidates;
    const size = sizeOfHeaderKey(key);
    if (size !== undefined) return candidates.filter((m) => m.size === size);
    await this.learn(candidates);
    const wanted = new Set(keys);
    return candidates.filter((m) => wanted.has(this.known.get(m.uid)?.key ?? ''));
  }

  /**
   * Those of `copies` that are `content` by the copy rule
   * (message/copy-rule.ts): what tells a message's own copy from another
   * message's that shares its key.
   */
  async sameAs(copies: readonly IndexedMessage[], content: Buffer): Promise<IndexedMessage[]> {
    return (await this.compare(copies, content)) ?? [];
  }

  /**
   * As sameAs, but undefined when the copies cannot be compared: the message holds NUL bytes, which
   * only FETCH BINARY returns, and the store does not offer it.
   */
  async compare(copies: readonly IndexedMessage[], content: Buffer, digests?: CopyDigests): Promise<IndexedMessage[] | undefined> {
    if (copies.length === 0) return [];
    if (content.includes(0) && !(await this.readsBinary())) return undefined;
    const original = digests ?? copyDigests(content);
    const same = (d: CopyDigests | undefined) => d !== undefined && judgeCopy(original, d) !== 'different';
    // A literal cannot carry NUL: such a message is compared as FETCH BINARY returns it.
    if (content.includes(0)) {
      const digests = new Map<number, CopyDigests>();
      await this.fetch(
        copies.map((m) => m.uid),
        true,
        (uid, copy) => digests.set(uid, copyDigests(copy)),
      );
      return copies.filter((m) => same(digests.get(m.uid)));
    }
    await this.learn(copies);
    return copies.filter((m) => same(this.known.get(m.uid)?.digests));
  }

  /**
   * Those of `copies` that are, by the copy rule, the message whose digests are `digests` (its bytes
   * are gone): compared as fetched, and those that differ once more as FETCH BINARY returns them,
   * since a message with NUL bytes comes back whole only that way.
   */
  async matching(copies: readonly IndexedMessage[], digests: CopyDigests): Promise<IndexedMessage[]> {
    if (copies.length === 0) return [];
    const same = (d: CopyDigests | undefined) => d !== undefined && judgeCopy(digests, d) !== 'different';
    await this.learn(copies);
    const found = copies.filter((m) => same(this.known.get(m.uid)?.digests));
    const rest = copies.filter((m) => !found.includes(m));
    if (rest.length === 0 || !(await this.readsBinary())) return found;
    const binary = new Map<number, CopyDigests>();
    await this.fetch(
      rest.map((m) => m.uid),
      true,
      (uid, copy) => binary.set(uid, copyDigests(copy)),
    );
    return [...found, ...rest.filter((m) => same(binary.get(m.uid)))];
  }

  /**
   * The candidates under `keys` (for a fallback key: every message with its
   * header fields, whatever its body) that hold `content`'s lines in another
   * order (see movedLinesDigest): what a MIME-tree store made of it. Asked
   * once no copy is the message by the copy rule.
   */
  async rebuilt(keys: readonly string[], content: Buffer): Promise<IndexedMessage[]> {
    const candidates = this.candidates(keys);
    if (candidates.length === 0) return [];
    await this.learn(candidates);
    const moved = movedLinesDigest(content);
    return candidates.filter((m) => this.known.get(m.uid)?.moved === moved);
  }

  /** The digests of a copy as fetched and, where the store offers it, as FETCH BINARY returns it (NUL bytes kept). */
  async forms(copy: IndexedMessage): Promise<CopyDigests[]> {
    await this.learn([copy]);
    const out: CopyDigests[] = [];
    const plain = this.known.get(copy.uid)?.digests;
    if (plain) out.push(plain);
    if (await this.readsBinary()) await this.fetch([copy.uid], true, (_, content) => out.push(copyDigests(content)));
    return out;
  }

  /**
   * The line sketches (message/line-sketch.ts) of `copies`, fetched again:
   * asked only of the few copies no message is by the copy rule, so none is
   * kept.
   */
  async sketches(copies: readonly IndexedMessage[]): Promise<Map<number, Uint32Array>> {
    const out = new Map<number, Uint32Array>();
    if (copies.length > 0)
      await this.fetch(
        copies.map((m) => m.uid),
        false,
        (uid, content) => out.set(uid, lineSketch(content)),
      );
    return out;
  }

  /** Fetches the messages not fetched before. */
  private async learn(messages: readonly IndexedMessage[]): Promise<void> {
    const unknown = messages.filter((m) => !this.known.has(m.uid)).map((m) => m.uid);
    if (unknown.length === 0) return;
    await this.fetch(unknown, false, (uid, content) =>
      this.known.set(uid, { key: contentKeyOfMessage(content), digests: copyDigests(content), moved: movedLinesDigest(content) }),
    );
  }
}
