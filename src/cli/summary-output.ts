import { displayText } from '../display-text.js';
import type { MigrationSummary } from '../engine/summary.js';
import { count, formatSize, mailboxLabel } from './output.js';

/** Entries of each list a terminal or cron mail shows; the rest is counted (all of them with --list, in --json and --log-file). */
export const SHOWN_ENTRIES = 5;

/** The first entries of a list, and a line counting the rest. */
function some<T>(items: readonly T[], all: boolean, line: (item: T) => string): string[] {
  const shown = all ? items : items.slice(0, SHOWN_ENTRIES);
  const lines = shown.map(line);
  if (shown.length < items.length)
    lines.push(`    … and ${items.length - shown.length} more (all of them with --list, in --json and in --log-file)`);
  return lines;
}

/**
 * The human summary printed at the end of a migration: counts, and the
 * first few entries of each list (`all`: every entry, for --list and the
 * log file).
 */
export function formatSummary(s: MigrationSummary, all = true): string {
  const lines: string[] = [];
  const verb = s.dryRun ? 'would append' : 'appended';
  lines.push(`${s.dryRun ? 'Dry run: ' : ''}${mailboxLabel(s.pop3, s.imap, s.folder)}`);
  if (s.destinationKind !== undefined) lines.push(`  destination: ${s.destinationKind}`);
  lines.push(
    `  found ${s.found}, ${verb} ${s.dryRun ? s.wouldAppend.length : s.appended}, duplicates skipped ${s.duplicates}, failed ${s.failed}; ${formatSize(s.bytes)} in ${s.seconds.toFixed(1)} s`,
  );
  if (s.junkFolder !== undefined)
    lines.push(`  marked as spam by the source: ${s.junk} ${s.dryRun ? 'would go' : 'went'} into IMAP folder '${s.junkFolder}'`);
  if (s.knownFromJournal > 0) lines.push(`  ${count(s.knownFromJournal, 'message')} already done in earlier runs (journal)`);
  if (s.deleted > 0) lines.push(`  deleted from POP3 after confirming their copy: ${s.deleted}`);
  if (s.wouldDelete.length > 0) {
    lines.push(`  would delete from POP3 (copy confirmed): ${s.wouldDelete.length}`);
    lines.push(...some(s.wouldDelete, all, (uidl) => `    ${uidl}`));
  }
  if (s.reconnects > 0) lines.push(`  reconnected ${count(s.reconnects, 'time')} after a dropped or stalled connection`);
  if (s.serverDates > 0)
    lines.push(
      `  ${count(s.serverDates, 'message')} had no usable Received or Date header: the server's time is ${s.serverDates === 1 ? 'its' : 'their'} date`,
    );
  if (s.dryRun && s.wouldAppend.length > 0) {
    lines.push('  would append:');
    lines.push(
      ...some(
        s.wouldAppend,
        all,
        (a) => `    ${a.uidl}  ${a.size} octets  ${a.flags.join(' ') || '-'}  ${a.date ?? 'server time'}  ${a.key}`,
      ),
    );
  }
  if (s.duplicateList.length > 0) {
    lines.push('  duplicates skipped (UIDL, key, copy kept):');
    lines.push(
      ...some(s.duplicateList, all, (d) => {
        const kept = d.keptIn === 'destination' ? `on the destination as ${d.keptAs}` : `earlier in this run as UIDL ${d.keptAs}`;
        return `    ${d.uidl}  ${d.key}  ${kept}${d.sizeDiffers ? '  SIZE DIFFERS' : ''}`;
      }),
    );
  }
  if (s.failures.length > 0) {
    lines.push('  failed (UIDL, side, server said):');
    lines.push(...some(s.failures, all, (f) => `    ${f.uidl}  ${f.side}  ${f.reason}`));
  }
  if (s.changedList.length > 0) {
    lines.push(`  stored changed, not proven (kept on POP3, not uploaded again): ${s.storedChanged}`);
    lines.push(...some(s.changedList, all, (c) => `    ${c.uidl}  ${c.reason}`));
  }
  if (s.window !== undefined)
    lines.push(
      `  only what the POP3 server listed is proven: ${s.window.server} lists at most its newest messages (${s.window.limit} by default), older ones may be unreachable over POP3`,
    );
  if (s.stopped) lines.push(`  stopped early: ${s.stopped}`);
  // Each line neutralised whole: a UIDL, reason or key with a line break in it stays on its line.
  return lines.map(displayText).join('\n') + '\n';
}
