/**
 * A server's OK to an upload is evidence, not proof: some answer OK and
 * store nothing. After the uploads the folder is read again, and every
 * message this run uploaded must be in it, by the UID the server gave it or
 * else by its key and size; one that is not fails, so the run cannot exit 0
 * and the next run uploads it again.
 */
import type { Ledger } from './ledger.js';
import type { Sessions } from './sessions.js';

export async function confirmUploads(sessions: Sessions, ledger: Ledger): Promise<void> {
  const { settled } = ledger;
  let any = false;
  for (const [, r] of settled) {
    if (r.outcome === 'appended') {
      any = true;
      break;
    }
  }
  if (!any) return;
  sessions.forgetIndex();
  const index = await sessions.folderIndex({ index: true, flags: false });
  const uids = new Set<number>();
  for (const copies of index.values()) for (const m of copies) uids.add(m.uid);
  const validity = sessions.folder?.uidValidity;
  const missing: string[] = [];
  for (const [uidl, r] of settled) {
    if (r.outcome !== 'appended') continue;
    const byUid = r.uid !== undefined && r.uidValidity === validity;
    const there = byUid ? uids.has(r.uid!) : (index.get(r.key)?.some((m) => m.size === r.size || r.key.startsWith('mid:')) ?? false);
    if (!there) missing.push(uidl);
  }
  const server = sessions.openedDestination?.server ?? 'the destination';
  for (const uidl of missing) {
    ledger.missing(uidl, `IMAP server ${server} accepted the message, but it is not in the folder; it stays on the source and is uploaded again next run.`);
  }
  ledger.confirmed();
}
