import type { MigrationSummary } from '../engine/summary.js';
import { count, formatSize, mailboxLabel } from './output.js';

/** The human summary printed to stderr at the end of a migration. */
export function formatSummary(s: MigrationSummary): string {
  const lines: string[] = [];
  const verb = s.dryRun ? 'would append' : 'appended';
  lines.push(`${s.dryRun ? 'Dry run: ' : ''}${mailboxLabel(s.pop3, s.imap, s.folder)}`);
  if (s.destinationKind !== undefined) lines.push(`  destination: ${s.destinationKind}`);
  lines.push(
    `  found ${s.found}, ${verb} ${s.dryRun ? s.wouldAppend.length : s.appended}, duplicates skipped ${s.duplicates}, failed ${s.failed}; ${formatSize(s.bytes)} in ${s.seconds.toFixed(1)} s`,
  );
  if (s.knownFromJournal > 0) lines.push(`  ${count(s.knownFromJournal, 'message')} already done in earlier runs (journal)`);
  if (s.deleted > 0) lines.push(`  deleted from POP3 after confirming their copy: ${s.deleted}`);
  if (s.wouldDelete.length > 0) lines.push(`  would delete from POP3 (copy confirmed): ${s.wouldDelete.join(' ')}`);
  if (s.reconnects > 0) lines.push(`  reconnected ${count(s.reconnects, 'time')} after a dropped or stalled connection`);
  if (s.serverDates > 0)
    lines.push(
      `  ${count(s.serverDates, 'message')} had no usable Received or Date header: the server's time is ${s.serverDates === 1 ? 'its' : 'their'} date`,
    );
  if (s.dryRun && s.wouldAppend.length > 0) {
    lines.push('  would append:');
    for (const a of s.wouldAppend)
      lines.push(`    ${a.uidl}  ${a.size} octets  ${a.flags.join(' ') || '-'}  ${a.date ?? 'server time'}  ${a.key}`);
  }
  if (s.duplicateList.length > 0) {
    lines.push('  duplicates skipped (UIDL, key, copy kept):');
    for (const d of s.duplicateList) {
      const kept = d.keptIn === 'destination' ? `on the destination as ${d.keptAs}` : `earlier in this run as UIDL ${d.keptAs}`;
      lines.push(`    ${d.uidl}  ${d.key}  ${kept}${d.sizeDiffers ? '  SIZE DIFFERS' : ''}`);
    }
  }
  if (s.failures.length > 0) {
    lines.push('  failed (UIDL, side, server said):');
    for (const f of s.failures) lines.push(`    ${f.uidl}  ${f.side}  ${f.reason}`);
  }
  if (s.changedList.length > 0) {
    lines.push(`  stored changed, not proven (kept on POP3, not uploaded again): ${s.storedChanged}`);
    for (const c of s.changedList) lines.push(`    ${c.uidl}  ${c.reason}`);
  }
  if (s.stopped) lines.push(`  stopped early: ${s.stopped}`);
  return lines.join('\n') + '\n';
}
