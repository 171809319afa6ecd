/**
 * Which destination folder names a server will refuse, checked before a
 * folder is created and in --dry-run, so that a dry run never promises a
 * folder the real run cannot make. Pure.
 *
 * The user's --folder is split on '/' into levels; the server joins them with
 * its own separator, so a level that contains that separator would silently
 * become two levels (or be refused), and providers add rules of their own.
 */
import type { ProviderProfile } from './provider-profile.js';
import { option } from '../option-hint.js';

export interface FolderNameProblem {
  /** The level concerned, as the user wrote it. */
  level: string;
  /** Why the server will refuse it or misread it, as a clause: "contains '.', ...". */
  reason: string;
}

export interface FolderNameContext {
  /** The server's hierarchy separator ('' when it has none: a flat namespace). */
  separator: string;
  profile: ProviderProfile;
}

function quoteChar(c: string): string {
  return c === "'" ? '"\'"' : `'${c}'`;
}

/** Every reason the server will refuse (or misread) the folder `levels`; empty when none is known. */
export function folderNameProblems(levels: readonly string[], context: FolderNameContext): FolderNameProblem[] {
  const problems: FolderNameProblem[] = [];
  const { separator, profile } = context;
  if (levels.length === 1 && levels[0]!.toUpperCase() === 'INBOX') return problems;
  if (separator === '' && levels.length > 1) {
    problems.push({
      level: levels.join('/'),
      reason: 'the server has no folder levels (no hierarchy separator), so it cannot hold a folder inside another',
    });
  }
  levels.forEach((level, i) => {
    if (separator !== '' && separator !== '/' && level.includes(separator)) {
      problems.push({
        level,
        reason: `contains ${quoteChar(separator)}, which this server uses to separate folder levels (poplift uses '/' for levels: write 'A/B' for a folder B inside A)`,
      });
    }
    if (/[\r\n\0]/.test(level)) problems.push({ level, reason: 'contains a line break or NUL' });
    if (profile.labelNameRules) {
      if (/^\s|\s$/.test(level))
        problems.push({ level, reason: `starts or ends with a space, which ${profile.label} refuses in label names` });
      if (/\s\s/.test(level))
        problems.push({ level, reason: `contains two spaces in a row, which ${profile.label} refuses in label names` });
      if (level.includes('^')) problems.push({ level, reason: `contains '^', which ${profile.label} refuses in label names` });
    }
    if (i === 0 && profile.reservedTopLevelNames.some((r) => r.toLowerCase() === level.toLowerCase())) {
      problems.push({ level, reason: `is a name ${profile.label} reserves for its own use` });
    }
  });
  return problems;
}

/** One sentence naming every problem, for an error or a --dry-run report; undefined when there is none. */
export function describeFolderNameProblems(levels: readonly string[], problems: readonly FolderNameProblem[]): string | undefined {
  if (problems.length === 0) return undefined;
  const each = problems.map((p) => `'${p.level}' ${p.reason}`).join('; ');
  return `the folder '${levels.join('/')}' cannot be created: ${each}. Choose another ${option('folder')}.`;
}
