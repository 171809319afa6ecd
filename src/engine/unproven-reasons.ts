/**
 * The sentences that say why a message the destination took is not proven
 * (stored changed, or a changed copy that may be another message's): one
 * wording wherever a step finds it (transfer, confirm, delete).
 */

/** Why a message is not sent again when a copy the server changed may be its own or another's (DedupIndex.unclaimedCopy). */
export function ambiguousReason(folder: string, uids: readonly number[]): string {
  const list = uids.join(', ');
  return `IMAP folder '${folder}' took ${uids.length === 1 ? 'a copy' : 'copies'} (UID ${list}) that the server changed, of this message or of another sent with it under the same key, and poplift cannot tell which: not sent again, so as not to store it twice. Look at UID ${list}: if it is this message, delete this one from the POP3 server yourself; if not, delete it from the folder and run poplift again.`;
}

/** Why a message counts as stored changed (see Ledger.storedChanged). */
export function storedChangedReason(server: string, uid: number | undefined): string {
  return `IMAP server ${server} stored it${uid === undefined ? '' : ` as UID ${uid}`}, but changed beyond what the copy rule accepts (not only line ends, 8-bit header bytes or its own header fields): not proven, so it stays on the source and is not uploaded again.`;
}

/** Why a message whose copy holds its lines in another order counts as stored changed (see CopyLookup.rebuilt). */
export function rebuiltReason(server: string, uid: number): string {
  return `IMAP server ${server} holds it as UID ${uid} with its lines in another order (a server that stores a message as MIME parts and rebuilds it, such as WildDuck, serves the text after the last part before the first): stored changed, not proven, so it stays on the source and is not uploaded again.`;
}
