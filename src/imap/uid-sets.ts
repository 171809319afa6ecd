/** UID sets on the command line: short enough for any server, and sent again without the UIDs a server refuses them for. */

/**
 * The longest UID set put in one command. Servers bound the command lines they parse (RFC 7162
 * section 4 asks clients to stay within 8,192 octets); this leaves room for the tag, the command
 * and its item list. A count of UIDs is no bound: ten-digit UIDs with gaps take 11 octets each.
 */
export const UID_SET_OCTETS = 7_800;

/** Ascending UIDs cut into runs whose IMAP sequence set (uidSet) is at most `maxOctets` long. */
export function uidChunks(sorted: readonly number[], maxOctets = UID_SET_OCTETS): number[][] {
  const chunks: number[][] = [];
  let start = 0;
  let octets = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    const part = String(sorted[i]).length + (i === j ? 0 : 1 + String(sorted[j]).length);
    if (i > start && octets + 1 + part > maxOctets) {
      chunks.push(sorted.slice(start, i));
      start = i;
      octets = 0;
    }
    octets += (octets === 0 ? 0 : 1) + part;
    i = j + 1;
  }
  if (start < sorted.length) chunks.push(sorted.slice(start));
  return chunks;
}

/** Ascending UIDs as IMAP sequence sets (runs as ranges), each at most UID_SET_OCTETS octets long. */
export function uidSets(sorted: readonly number[], maxOctets = UID_SET_OCTETS): string[] {
  return uidChunks(sorted, maxOctets).map(uidSet);
}

/** Ascending UIDs as one IMAP sequence set, runs as ranges: 1:3,7,9:10. */
export function uidSet(sorted: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Runs a UID command (FETCH, STORE) on the selected folder for `uids`, in
 * sets short enough for any server (uidSets). RFC 9051 section 6.4.9 has a
 * server ignore UIDs that are not in the folder; GNU Mailutils 3.15 imap4d
 * instead answers BAD ("Failed to parse message set") to a set that names
 * one. A set the server refuses (`command` resolves false) is sent again
 * once, with only the UIDs that `uidsFrom` (a `UID FETCH n:* (UID)`) shows
 * are there; a second refusal fails the step, so nothing is taken for
 * absent unproven.
 */
export async function forUidSets(
  uids: readonly number[],
  command: (set: string) => Promise<boolean>,
  uidsFrom: (from: number) => Promise<Set<number>>,
): Promise<void> {
  let present: Set<number> | undefined;
  for (const chunk of uidChunks([...new Set(uids)].sort((a, b) => a - b))) {
    if (await command(uidSet(chunk))) continue;
    present ??= await uidsFrom(chunk[0]!);
    const there = chunk.filter((uid) => present!.has(uid));
    if (there.length > 0 && !(await command(uidSet(there)))) {
      throw new Error(`the server refused UID set ${uidSet(there).slice(0, 60)}… twice, the second time with only UIDs it listed`);
    }
  }
}
