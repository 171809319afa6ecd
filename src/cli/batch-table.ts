/**
 * Text for batch's screen: the final table fitted to a width, and long
 * lines wrapped rather than cut. While bars are drawn the terminal's line
 * wrap is off, so a line longer than the screen loses its end: what matters
 * most in a failing row's error (the server's answer, what to do) is there.
 */

/**
 * `text` in lines of at most `width` characters, broken at spaces, the lines
 * after the first starting with `indent`; a word longer than a line is
 * broken where the line ends. `padded` fills each line with spaces to the
 * width: a line drawn where a bar was overwrites all of it (cli-progress
 * clears only the first line of what it prints above the bars).
 */
export function wrapText(text: string, width: number, indent = '  ', padded = false): string[] {
  const lines: string[] = [];
  let line = '';
  const room = () => width - (lines.length === 0 ? 0 : indent.length);
  for (const word of text.split(' ')) {
    let w = word;
    if (line !== '' && line.length + 1 + w.length <= room()) {
      line += ` ${w}`;
      continue;
    }
    if (line !== '') lines.push(line);
    while (w.length > room()) {
      const max = Math.max(1, room());
      lines.push(w.slice(0, max));
      w = w.slice(max);
    }
    line = w;
  }
  lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : `${indent}${l}`)).map((l) => (padded ? l.padEnd(width) : l));
}

/** `text` shortened to `width` by cutting out its middle: both ends of a mailbox's name say which one it is. */
export function cutMiddle(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

function pad(text: string, width: number, right: boolean): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** Where a table must fit: `width` columns, and for each row a shorter name for the mailbox column. */
export interface TableFit {
  width: number;
  short: string[];
}

/**
 * A table with a header, a rule, the rows, a rule and a totals row, columns
 * two spaces apart, the second column (the mailbox) the one that gives way.
 * With `fit`, a table wider than `fit.width` narrows that column to what is
 * left: a name that does not fit is replaced by its short form (as the bars
 * label it), cut in the middle if still too long, and a totals label that
 * does not fit goes on a line of its own below the table. Without it, or
 * when the table fits, every cell is whole.
 */
export function renderTable(header: string[], right: boolean[], rows: string[][], totals: string[], fit?: TableFit): string {
  const flex = 1;
  const all = [header, ...rows, totals];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const natural = widths.reduce((n, w) => n + w, 0) + 2 * (widths.length - 1);
  let totalsRow = totals;
  let below: string | undefined;
  if (fit !== undefined && natural > fit.width) {
    const others = natural - widths[flex]!;
    const cellsWidth = Math.max(...[header, ...rows].map((r) => r[flex]!.length));
    const w = Math.max(header[flex]!.length, Math.min(cellsWidth, fit.width - others));
    const narrow = (full: string, short: string) => (full.length <= w ? full : cutMiddle(short, w));
    rows = rows.map((r, j) => r.map((c, i) => (i === flex ? narrow(c, fit.short[j] ?? c) : c)));
    if (totals[flex]!.length > w) {
      below = totals[flex];
      totalsRow = totals.map((c, i) => (i === flex ? cutMiddle('total', w) : c));
    }
    // As wide as what it now holds: the room the short names leave goes back to the screen.
    widths[flex] = Math.max(...[header, ...rows, totalsRow].map((r) => r[flex]!.length));
  }
  const line = (r: string[]) =>
    r
      .map((c, i) => pad(c, widths[i]!, right[i]!))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return `${[line(header), rule, ...rows.map(line), rule, line(totalsRow), ...(below === undefined ? [] : [below])].join('\n')}\n`;
}
