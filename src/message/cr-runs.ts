/**
 * Runs of CRs right before an LF: some servers rewrite them when they store
 * a message, so a copy can differ from the original only there.
 */

/**
 * Sizes the message may have after a server rewrote runs of CRs before LF:
 * each run folded to one CR, or one CR dropped from each run (Dovecot's
 * maildir storage turns CR CR LF into CR LF and CR CR CR LF into CR CR LF).
 * Empty when the message has no such run.
 */
export function crFoldedSizes(content: Buffer): number[] {
  if (!content.includes('\r\r\n')) return [];
  let foldAll = 0;
  let dropOne = 0;
  for (let lf = content.indexOf(0x0a); lf >= 0; lf = content.indexOf(0x0a, lf + 1)) {
    let cr = lf;
    while (cr > 0 && content[cr - 1] === 0x0d) cr--;
    if (lf - cr > 1) {
      foldAll += lf - cr - 1;
      dropOne += 1;
    }
  }
  return [...new Set([content.length - foldAll, content.length - dropOne])];
}

/**
 * `content` with every run of CRs right before an LF folded to one CR: the
 * form in which a message and a copy a server stored with CR runs rewritten
 * (see crFoldedSizes) are equal. The same buffer when there is no such run.
 */
export function foldCrRuns(content: Buffer): Buffer {
  let found = content.indexOf('\r\r\n');
  if (found === -1) return content;
  const parts: Buffer[] = [];
  let start = 0;
  while (found !== -1) {
    // A match of CR CR LF ends at the LF of a run of two or more CRs; keep the run's first CR only.
    const lf = found + 2;
    let first = found;
    while (first > start && content[first - 1] === 0x0d) first--;
    parts.push(content.subarray(start, first + 1));
    start = lf;
    found = content.indexOf('\r\r\n', lf);
  }
  parts.push(content.subarray(start));
  return Buffer.concat(parts);
}
