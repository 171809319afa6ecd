/**
 * A server's OK to an upload is evidence, not proof: some answer OK and
 * store nothing. After the uploads, the folder must account for every
 * message this run uploaded. When one STATUS shows exactly the messages and
 * UIDs the folder had before plus this run's uploads, under the same
 * UIDVALIDITY, with a distinct UID named for every upload inside the range
 * UIDNEXT advanced over, that is the proof. Otherwise the folder is read
 * again, and each upload must be shown in it: at the UID the server named
 * when that UID is one the folder took during the run, named for this upload
 * alone, and holds a message with its key and size; else the copy there, or
 * one with its key that no other upload accounts for, must be the message by
 * the copy rule (an APPENDUID can name a message that was there before). One
 * that is not fails, so the run cannot exit 0 and the next run uploads it
 * again.
 */
import { indexKeyOf } from '../message/identity-key.js';
import { judgeCopy, type CopyDigests } from '../message/copy-rule.js';
import type { FolderIndex, FolderInfo, FolderStatus, IndexedMessage } from '../store/mail-store.js';
import type { CopyLookup } from './copy-lookup.js';
import type { Ledger } from './ledger.js';
import type { Sessions } from './sessions.js';
import { storedChangedReason } from './unproven-reasons.js';

/** An upload of this run, with the UID the server named for it (under the folder's UIDVALIDITY). */
interface Appended {
  uidl: string;
  uid: number | undefined;
}

/** An upload no copy was shown to be, for the second look. */
interface Unproven extends Appended {
  key: string;
  size: number;
}

/** Returns the folder's status when one STATUS settled it (for the journal's record). */
export async function confirmUploads(sessions: Sessions, ledger: Ledger): Promise<FolderStatus | undefined> {
  const appended: Appended[] = [];
  const validity = sessions.folder?.uidValidity;
  for (const [uidl, r] of ledger.settled)
    if (r.outcome === 'appended') appended.push({ uidl, uid: r.uidValidity === validity ? r.uid : undefined });
  if (appended.length === 0) return undefined;

  const { destination, folder } = await sessions.openDestination();
  const before = sessions.firstSeen;
  const status = await destination.status(folder);
  if (statusProves(status, before, folder, appended)) {
    ledger.confirmed();
    return status;
  }

  sessions.forgetIndex();
  const index = await sessions.folderIndex({ index: true, flags: false });
  const end = status !== undefined && status.uidValidity === folder.uidValidity ? status.uidNext : undefined;
  const check = new FolderRecheck(ledger, sessions.lookup(index), index, appended, before?.uidNext, end);
  const unproven = await check.proveEach(appended);
  await check.settleUnproven(unproven, destination.server);
  ledger.confirmed();
  return undefined;
}

/**
 * The shortcut holds only when the server named a distinct UID for every upload, the folder took
 * exactly that many UIDs and messages, and every named UID lies in the range it advanced over: then
 * the new messages are exactly this run's. An OK without a UID, or any other change to the folder
 * meanwhile, sends the run to the full check.
 */
function statusProves(
  status: FolderStatus | undefined,
  before: FolderInfo['seen'],
  folder: FolderInfo,
  appended: readonly Appended[],
): boolean {
  const uids = appended.map(({ uid }) => uid);
  const start = before?.uidNext;
  return (
    status !== undefined &&
    before !== undefined &&
    start !== undefined &&
    status.uidValidity === folder.uidValidity &&
    status.messages === before.messages + appended.length &&
    status.uidNext - start === appended.length &&
    new Set(uids).size === uids.length &&
    uids.every((uid) => uid !== undefined && uid >= start && uid < status.uidNext)
  );
}

/** The full check: the folder read again, and each upload shown in it (see the file's header). */
class FolderRecheck {
  /** What the folder holds at each UID: the index key and size. */
  private readonly at = new Map<number, { key: string; size: number }>();
  /** How many uploads the server named each UID for. */
  private readonly named = new Map<number, number>();
  /** Copies in the folder that an upload of this run was shown to be. */
  private readonly claimed = new Set<number>();
  /** This run's messages by comparison form (built once, when first needed): a message new in the folder that is one of them is not another's changed copy. */
  private read: Map<string, Array<{ uidl: string; digests: CopyDigests }>> | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly lookup: CopyLookup,
    index: FolderIndex,
    appended: readonly Appended[],
    /** The folder's UIDNEXT when this run first read it. */
    private readonly start: number | undefined,
    /** Its UIDNEXT now, under the same UIDVALIDITY. */
    private readonly end: number | undefined,
  ) {
    for (const [key, copies] of index) for (const m of copies) this.at.set(m.uid, { key, size: m.size });
    for (const { uid } of appended) if (uid !== undefined) this.named.set(uid, (this.named.get(uid) ?? 0) + 1);
  }

  /**
   * A UID named for two uploads, or one the folder had before the run, or one outside what UIDNEXT
   * advanced over, names some other message: the server's word for it proves nothing.
   */
  private fresh(uid: number): boolean {
    return this.start !== undefined && this.end !== undefined && uid >= this.start && uid < this.end && this.named.get(uid) === 1;
  }

  /** Whether the copy at `uid` is the upload `uidl`. */
  private async isIt(uid: number, key: string, size: number, uidl: string): Promise<boolean> {
    const there = this.at.get(uid);
    if (there === undefined) return false;
    const digests = this.ledger.settled.digests(uidl);
    // The UID the server named, inside the range the folder advanced over, holds a message with the
    // upload's key and size: that is the upload.
    if (this.fresh(uid) && there.key === indexKeyOf(key) && there.size === size) return true;
    if (digests === undefined) return this.fresh(uid) && there.key === indexKeyOf(key);
    return (await this.lookup.matching([{ uid, size: there.size }], digests)).length > 0;
  }

  /** Claims each upload's copy; returns the uploads no copy was shown to be. */
  async proveEach(appended: readonly Appended[]): Promise<Unproven[]> {
    const { settled } = this.ledger;
    const unproven: Unproven[] = [];
    for (const { uidl, uid } of appended) {
      const r = settled.get(uidl);
      if (r?.outcome !== 'appended') continue;
      let copy = uid !== undefined && (await this.isIt(uid, r.key, r.size, uidl)) ? uid : undefined;
      if (copy === undefined) {
        // Not at the UID named (or none was): a copy with its key that is the message and that no other
        // upload of this run was shown to be.
        const digests = settled.digests(uidl);
        const copies = (await this.lookup.copies([r.key])).filter((m) => !this.claimed.has(m.uid));
        const same = digests === undefined ? copies : await this.lookup.matching(copies, digests);
        copy = same[0]?.uid;
      }
      if (copy === undefined) unproven.push({ uidl, uid, key: r.key, size: r.size });
      else this.claimed.add(copy);
    }
    return unproven;
  }

  private isNew(uid: number): boolean {
    return this.start !== undefined && uid >= this.start && !this.claimed.has(uid) && !this.named.has(uid);
  }

  private async someoneElses(m: IndexedMessage, uidl: string): Promise<boolean> {
    if (this.read === undefined) {
      this.read = new Map();
      const { settled } = this.ledger;
      for (const u of settled.listing?.order ?? []) {
        const d = settled.digests(u);
        if (d) this.read.set(d.tolerant, [...(this.read.get(d.tolerant) ?? []), { uidl: u, digests: d }]);
      }
    }
    const known = this.read;
    const forms = await this.lookup.forms(m);
    return forms.some((f) => (known.get(f.tolerant) ?? []).some((o) => o.uidl !== uidl && judgeCopy(o.digests, f) !== 'different'));
  }

  private async orphan(key: string, uidl: string): Promise<number | undefined> {
    for (const m of this.lookup.candidates([key])) if (this.isNew(m.uid) && !(await this.someoneElses(m, uidl))) return m.uid;
    return undefined;
  }

  /**
   * Once every upload that can be proven claimed its copy: the folder took a message for an upload
   * when the UID the server named is new in the folder and named for it alone, or (no UID named) a
   * message new in the folder with its index key is no upload's. What it stored is not the message by
   * the copy rule: stored changed, not proven; sending it again would store it twice.
   */
  async settleUnproven(unproven: readonly Unproven[], server: string): Promise<void> {
    for (const { uidl, uid, key, size } of unproven) {
      const taken =
        uid !== undefined
          ? this.fresh(uid) && this.at.has(uid) && !this.claimed.has(uid)
            ? uid
            : undefined
          : await this.orphan(key, uidl);
      if (taken !== undefined) {
        this.claimed.add(taken);
        this.ledger.storedChanged(uidl, key, size, taken, storedChangedReason(server, taken));
      } else {
        this.ledger.missing(
          uidl,
          `IMAP server ${server} accepted the message, but it is not in the folder; it stays on the source and is uploaded again next run.`,
        );
      }
    }
  }
}
