/**
 * Deleting from the source what is proven to be on the destination. A
 * message is deleted only when its copy is confirmed: this run's upload with
 * the UID the server gave it, or a destination message with the same key and
 * size found after the uploads. Deletions are committed every `deleteEvery`
 * messages, so a run that dies keeps what it had committed, and a crash
 * before a commit deletes nothing.
 */
import type { JournalState } from '../state/journal.js';
import type { Ledger } from './ledger.js';
import type { Sessions } from './sessions.js';

export interface DeleteOptions {
  dryRun: boolean;
  /** Deletions committed per source session. */
  deleteEvery: number;
  warnOnce(key: string, message: string): void;
  /** True once the user asked to stop: marking stops within about a second, and what was marked is committed. */
  stopRequested(): boolean;
}

interface ToCheck {
  uidl: string;
  key: string;
  size: number;
  uid?: number;
  uidValidity?: string;
}

/**
 * The ids of the current listing whose copy is proven, in listing order. A
 * message qualifies only when this session's listing names it by a unique,
 * well-formed id and lists it with the size it had when it was copied: a
 * message number alone says nothing about which message it is.
 */
async function provenCopies(sessions: Sessions, ledger: Ledger, journal: JournalState | undefined, options: DeleteOptions): Promise<string[]> {
  const { listing } = await sessions.openSource();
  const { settled } = ledger;
  const confirmed: string[] = [];
  const toCheck: ToCheck[] = [];
  let unidentified = 0;
  let resized = 0;
  for (const uidl of listing.order) {
    const r = settled.get(uidl);
    const k = r === undefined ? journal?.done.get(uidl) : undefined;
    if (r === undefined && k === undefined) continue;
    if (r?.outcome === 'failed' || r?.outcome === 'planned') continue;
    // A message that came with another length than listed may not be what the server stores.
    if (ledger.isSuspect(uidl) || k?.suspect) continue;
    if (!listing.identified(uidl)) {
      unidentified++;
      continue;
    }
    const recordedSize = r !== undefined ? ledger.listSize(uidl) : (k!.listSize ?? k!.size);
    if (recordedSize !== listing.size(uidl)) {
      resized++;
      continue;
    }
    if (r?.outcome === 'appended') {
      if (r.uid !== undefined) confirmed.push(uidl);
      else toCheck.push({ uidl, key: r.key, size: r.size });
    } else if (r?.outcome === 'duplicate') {
      if (r.sizeDiffers) continue;
      if (r.keptIn === 'destination') confirmed.push(uidl);
      else {
        const kept = settled.get(r.keptAs);
        if (kept?.outcome === 'appended' && kept.size === r.size) {
          if (kept.uid !== undefined) confirmed.push(uidl);
          else toCheck.push({ uidl, key: r.key, size: r.size });
        }
      }
    } else if (k && !k.sizeDiffers) {
      toCheck.push({ uidl, key: k.key, size: k.size, uid: k.uid, uidValidity: k.uidValidity });
    }
  }
  const server = (await sessions.openSource()).source.server;
  if (unidentified > 0) {
    options.warnOnce(
      'delete-unidentified',
      `${unidentified} message(s) stay on POP3 server ${server}: it gives them no unique, well-formed UIDL, so which message a number names cannot be proven.`,
    );
  }
  if (resized > 0) {
    options.warnOnce(
      'delete-resized',
      `${resized} message(s) stay on POP3 server ${server}: it now lists them with another size than when they were copied.`,
    );
  }
  if (toCheck.length > 0) {
    // Confirm against the folder as it is now, after this run's uploads.
    sessions.forgetIndex();
    const now = await sessions.folderIndex({ index: true, flags: false });
    const uids = new Set([...now.values()].flat().map((m) => m.uid));
    const validity = sessions.folder?.uidValidity?.toString();
    for (const c of toCheck) {
      // A server may store a message slightly rewritten (CR runs), so our own UID is the better proof.
      const ownCopy = c.uid !== undefined && c.uidValidity !== undefined && c.uidValidity === validity && uids.has(c.uid);
      if (ownCopy || now.get(c.key)?.some((m) => m.size === c.size)) confirmed.push(c.uidl);
    }
  }
  return confirmed;
}

export async function deletePhase(sessions: Sessions, ledger: Ledger, journal: JournalState | undefined, options: DeleteOptions): Promise<void> {
  const pending = await provenCopies(sessions, ledger, journal, options);
  if (options.dryRun) {
    ledger.summary.wouldDelete.push(...pending);
    return;
  }
  while (pending.length > 0 && !options.stopRequested()) {
    const { source, listing } = await sessions.openSource();
    const chunk = pending.slice(0, options.deleteEvery).filter((u) => listing.has(u));
    const result = await source.markDeleted(
      chunk.map((uidl) => ({ n: listing.number(uidl)!, uidl, size: listing.size(uidl)! })),
      { stopWhen: () => options.stopRequested() },
    );
    // QUIT commits what was marked, also after a stop: those copies are proven.
    await sessions.commitSource();
    const marked = new Set(result.marked);
    ledger.deleted(chunk.filter((u) => marked.has(listing.number(u)!)));
    if (result.kept.length > 0 && !result.stopped) {
      options.warnOnce(
        `delete-kept:${result.kept[0]!.n}`,
        `${result.kept.length} message(s) stay on POP3 server ${source.server}: ${result.kept[0]!.reason}${result.kept.length > 1 ? ' (and others)' : ''}.`,
      );
    }
    if (result.stopped) return;
    pending.splice(0, options.deleteEvery);
  }
}
