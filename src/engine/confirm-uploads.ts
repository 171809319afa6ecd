/**
 * A server's OK to an upload is evidence, not proof: some answer OK and
 * store nothing. After the uploads, the folder must account for every
 * message this run uploaded. When one STATUS shows exactly the messages and
 * UIDs the folder had before plus this run's uploads, under the same
 * UIDVALIDITY, with a distinct UID named for every upload inside the range
 * UIDNEXT advanced over, that is the proof. Otherwise the folder is read again, and each upload must be in
 * it by the UID the server gave or else by its key (see CopyLookup); one that is
 * not fails, so the run cannot exit 0 and the next run uploads it again.
 */
import type { FolderStatus } from '../store/mail-store.js';
import type { Ledger } from './ledger.js';
import type { Sessions } from './sessions.js';

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
  const present = new Set<number>();
  for (const copies of index.values()) for (const m of copies) present.add(m.uid);
  const lookup = sessions.lookup(index);
  for (const { uidl, uid } of appended) {
    const r = settled.get(uidl);
    if (r?.outcome !== 'appended') continue;
    const there = uid !== undefined ? present.has(uid) : (await lookup.copies([r.key])).length > 0;
    if (!there) {
      ledger.missing(
        uidl,
        `IMAP server ${destination.server} accepted the message, but it is not in the folder; it stays on the source and is uploaded again next run.`,
      );
    }
  }
  ledger.confirmed();
  return undefined;
}
