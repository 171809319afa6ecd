import { displayText } from '../display-text.js';
import { describeChanges, type ServerChange, type VerifyProblemKind, type VerifyReport } from '../engine/verify.js';
import { count, mailboxLabel } from './output.js';

const LABELS: Record<VerifyProblemKind, string> = {
  missing: 'MISSING',
  'size-differs': 'SIZE DIFFERS',
  altered: 'ALTERED',
  unreadable: 'UNREADABLE',
};

function quoted(text: string | undefined): string {
  return text === undefined ? '(no subject)' : JSON.stringify(text);
}

/**
 * "stored with the server's changes: 7 (line ends rewritten)", or with more
 * than one kind of change how many messages each concerns; empty when none.
 */
export function formatServerChanges(r: Pick<VerifyReport, 'serverChanged' | 'serverChanges'>): string {
  if (r.serverChanged === 0) return '';
  const kinds = Object.entries(r.serverChanges) as Array<[ServerChange, number]>;
  const named =
    kinds.length === 1 ? describeChanges([kinds[0]![0]]) : kinds.map(([change, n]) => `${describeChanges([change])}: ${n}`).join(', ');
  return `stored with the server's changes: ${r.serverChanged} (${named})`;
}

/**
 * The human report printed to stderr: one line per message that is not
 * proven to be in the folder, one per note (the messages stored with the
 * server's changes only counted, by change, in the summary: --json lists
 * them), then a summary line.
 */
export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = [];
  for (const p of r.problems) {
    lines.push(`${LABELS[p.problem]}  UIDL ${p.uidl}  ${p.date ?? '(no date)'}  ${quoted(p.subject)}  ${p.detail}`);
  }
  for (const n of r.notes) {
    if (n.note === 'server-changed') continue;
    lines.push(`note  UIDL ${n.uidl}  ${n.date ?? '(no date)'}  ${quoted(n.subject)}  ${n.detail}`);
  }
  const how = r.deep ? 'by key, size and SHA-256' : `by key and size, POP3 read with ${r.read}`;
  const outcome = r.problems.length === 0 ? 'all there' : `${r.missing} missing${r.deep || r.altered > 0 ? `, ${r.altered} altered` : ''}`;
  const changed = formatServerChanges(r);
  const junk = r.junkFolder === null ? '' : ` (${r.inJunk} of them in IMAP folder '${r.junkFolder}')`;
  lines.push(
    `verify ${mailboxLabel(r.pop3, r.imap, r.folder)}${r.folderExists ? '' : ' (does not exist)'}: ` +
      `${count(r.found, 'POP3 message')}, ${r.folderMessages} in the folder, ${r.present} found${junk} ${how}; ${outcome}; ${changed ? `${changed}; ` : ''}${r.seconds.toFixed(1)} s`,
  );
  // Each line neutralised whole: a UIDL or Subject with a line break in it stays on its line.
  return lines.map(displayText).join('\n') + '\n';
}
