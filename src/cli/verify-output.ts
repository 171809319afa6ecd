import type { VerifyProblemKind, VerifyReport } from '../engine/verify.js';
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
 * The human report printed to stderr: one line per message that is not
 * proven to be in the folder, one per note, then a summary line.
 */
export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = [];
  for (const p of r.problems) {
    lines.push(`${LABELS[p.problem]}  UIDL ${p.uidl}  ${p.date ?? '(no date)'}  ${quoted(p.subject)}  ${p.detail}`);
  }
  for (const n of r.notes) {
    lines.push(`note  UIDL ${n.uidl}  ${n.date ?? '(no date)'}  ${quoted(n.subject)}  ${n.detail}`);
  }
  const how = r.deep ? 'by key, size and SHA-256' : `by key and size, POP3 read with ${r.read}`;
  const outcome = r.problems.length === 0 ? 'all there' : `${r.missing} missing${r.deep ? `, ${r.altered} altered` : ''}`;
  lines.push(
    `verify ${mailboxLabel(r.pop3, r.imap, r.folder)}${r.folderExists ? '' : ' (does not exist)'}: ` +
      `${count(r.found, 'POP3 message')}, ${r.folderMessages} in the folder, ${r.present} found ${how}; ${outcome}; ${r.seconds.toFixed(1)} s`,
  );
  return lines.join('\n') + '\n';
}
