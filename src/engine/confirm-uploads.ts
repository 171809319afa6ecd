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
import type { FolderStatus, IndexedMessage } from '../store/mail-store.js';
import type { Ledger } from './ledger.js';
import type { Sessions } from './sessions.js';
import { storedChangedReason } from './transfer.js';

/** Returns the folder's status when one STATUS settled it (for the journal's record). */
export async function confirmUploads(sessions: Sessions, ledger: Ledger): Promise<FolderStatus | undefined> {
  const { settled } = ledger;
  const appended: Array<{ uidl: string; uid: number | undefined }> = [];
  const validity = sessions.folder?.uidValidity;
  for (const [uidl, r] of settled)
    if (r.outcome === 'appended') appended.push({ uidl, uid: r.uidValidity === validity ? r.uid : undefined });
  if (appended.length === 0) return undefined;

  const { destination, folder } = await sessions.openDestination();
  const before = sessions.firstSeen;
  const status = await destination.status(folder);
  // The shortcut holds only when the server named a distinct UID for every upload, the folder took
  // exactly that many UIDs and messages, and every named UID lies in the range it advanced over: then
  // the new messages are exactly this run's. An OK without a UID, or any other change to the folder
  // meanwhile, sends the run to the full check.
  const uids = appended.map(({ uid }) => uid);
  const start = before?.uidNext;
  if (
    status !== undefined &&
    before !== undefined &&
    start !== undefined &&
    status.uidValidity === folder.uidValidity &&
    status.messages === before.messages + appended.length &&
    status.uidNext - start === appended.length &&
    new Set(uids).size === uids.length &&
    uids.every((uid) => uid !== undefined && uid >= start && uid < status.uidNext)
  ) {
    ledger.confirmed();
    return status;
  }

  sessions.forgetIndex();
  const index = await sessions.folderIndex({ index: true, flags: false });
  /** What the folder holds at each UID: the index key and size. */
  const at = new Map<number, { key: string; size: number }>();
  for (const [key, copies] of index) for (const m of copies) at.set(m.uid, { key, size: m.size });
  const lookup = sessions.lookup(index);
  // A UID named for two uploads, or one the folder had before the run, or one outside what UIDNEXT
  // advanced over, names some other message: the server's word for it proves nothing.
  const named = new Map<number, number>();
  for (const { uid } of appended) if (uid !== undefined) named.set(uid, (named.get(uid) ?? 0) + 1);
  const end = status !== undefined && status.uidValidity === folder.uidValidity ? status.uidNext : undefined;
  const fresh = (uid: number) => start !== undefined && end !== undefined && uid >= start && uid < end && named.get(uid) === 1;
  /** Copies in the folder that an upload of this run was shown to be. */
  const claimed = new Set<number>();
  const isIt = async (uid: number, key: string, size: number, uidl: string): Promise<boolean> => {
    const there = at.get(uid);
    if (there === undefined) return false;
    const digests = settled.digests(uidl);
    // The UID the server named, inside the range the folder advanced over, holds a message with the
    // upload's key and size: that is the upload.
    if (fresh(uid) && there.key === indexKeyOf(key) && there.size === size) return true;
    if (digests === undefined) return fresh(uid) && there.key === indexKeyOf(key);
    return (await lookup.matching([{ uid, size: there.size }], digests)).length > 0;
  };
  /** Uploads no copy was shown to be, for the second look. */
  const unproven: Array<{ uidl: string; uid: number | undefined; key: string; size: number }> = [];
  for (const { uidl, uid } of appended) {
    const r = settled.get(uidl);
    if (r?.outcome !== 'appended') continue;
    let copy = uid !== undefined && (await isIt(uid, r.key, r.size, uidl)) ? uid : undefined;
    if (copy === undefined) {
      // Not at the UID named (or none was): a copy with its key that is the message and that no other
      // upload of this run was shown to be.
      const digests = settled.digests(uidl);
      const copies = (await lookup.copies([r.key])).filter((m) => !claimed.has(m.uid));
      const same = digests === undefined ? copies : await lookup.matching(copies, digests);
      copy = same[0]?.uid;
    }
    if (copy === undefined) unproven.push({ uidl, uid, key: r.key, size: r.size });
    else claimed.add(copy);
  }
  // Once every upload that can be proven claimed its copy: the folder took a message for an upload
  // when the UID the server named is new in the folder and named for it alone, or (no UID named) a
  // message new in the folder with its index key is no upload's. What it stored is not the message by
  // the copy rule: stored changed, not proven; sending it again would store it twice.
  const isNew = (uid: number) => start !== undefined && uid >= start && !claimed.has(uid) && !named.has(uid);
  /** This run's messages by comparison form (built once, when first needed): a message new in the folder that is one of them is not another's changed copy. */
  let read: Map<string, Array<{ uidl: string; digests: CopyDigests }>> | undefined;
  const someoneElses = async (m: IndexedMessage, uidl: string): Promise<boolean> => {
    if (read === undefined) {
      read = new Map();
      for (const u of settled.listing?.order ?? []) {
        const d = settled.digests(u);
        if (d) read.set(d.tolerant, [...(read.get(d.tolerant) ?? []), { uidl: u, digests: d }]);
      }
    }
    const known = read;
    const forms = await lookup.forms(m);
    return forms.some((f) => (known.get(f.tolerant) ?? []).some((o) => o.uidl !== uidl && judgeCopy(o.digests, f) !== 'different'));
  };
  const orphan = async (key: string, uidl: string): Promise<number | undefined> => {
    for (const m of lookup.candidates([key])) if (isNew(m.uid) && !(await someoneElses(m, uidl))) return m.uid;
    return undefined;
  };
  for (const { uidl, uid, key, size } of unproven) {
    const taken = uid !== undefined ? (fresh(uid) && at.has(uid) && !claimed.has(uid) ? uid : undefined) : await orphan(key, uidl);
    if (taken !== undefined) {
      claimed.add(taken);
      ledger.storedChanged(uidl, key, size, taken, storedChangedReason(destination.server, taken));
    } else {
      ledger.missing(
        uidl,
        `IMAP server ${destination.server} accepted the message, but it is not in the folder; it stays on the source and is uploaded again next run.`,
      );
    }
  }
  ledger.confirmed();
  return undefined;
}
