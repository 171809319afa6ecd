/** The benchmark's table on stdout and the same figures as JSON. */

export interface Row {
  section: string;
  name: string;
  messages: number;
  bytes: number;
  seconds: number;
  peakRssBytes?: number;
  /** e.g. "1.31 × floor" or "0.42 s beyond start-up" */
  versus?: string;
  target?: string;
  /** Whether the figure meets its target; informative only, nothing is asserted. */
  met?: boolean;
  /** Which parts of the target were missed, when it names several. */
  missed?: string[];
  error?: string;
}

const MB = 1e6;

function num(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cells(r: Row): string[] {
  const rate = (x: number) => (r.seconds > 0 ? x / r.seconds : 0);
  return [
    r.name,
    r.messages > 0 ? num(r.messages) : '',
    r.bytes > 0 ? num(r.bytes / MB, 1) : '',
    r.error ? 'FAILED' : r.seconds > 0 ? num(r.seconds, 2) : '',
    r.messages > 0 && !r.error ? num(rate(r.messages)) : '',
    r.bytes > 0 && !r.error ? num(rate(r.bytes) / MB, 1) : '',
    r.peakRssBytes !== undefined ? `${num(r.peakRssBytes / MB)} MB` : '',
    r.versus ?? '',
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : r.missed?.length ? `NO (${r.missed.join(', ')})` : 'NO',
  ];
}

const HEAD = ['phase', 'msgs', 'MB', 'seconds', 'msgs/s', 'MB/s', 'peak RSS', 'vs floor / start-up', 'target', 'met'];
const RIGHT = new Set([1, 2, 3, 4, 5, 6]);

export function formatTable(rows: Row[]): string {
  const sections = [...new Set(rows.map((r) => r.section))];
  const body = rows.map(cells);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...body.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (RIGHT.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out: string[] = [line(HEAD), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const section of sections) {
    out.push(`[${section}]`);
    rows.forEach((r, i) => {
      if (r.section === section) out.push(line(body[i]!));
    });
  }
  const errors = rows.filter((r) => r.error);
  for (const r of errors) out.push(`FAILED ${r.name}: ${r.error}`);
  return out.join('\n');
}
