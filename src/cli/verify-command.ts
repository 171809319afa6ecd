/** poplift verify (and batch --verify): proves every POP3 message is in the folder, changing nothing. */
import { verifyExitCode, verifyMailbox, type VerifyReport } from '../engine/verify.js';
import { connectionEndpoints, type ConnectionCliOptions } from './connections.js';
import type { CliIo } from './cli-io.js';
import type { MigrateCliOptions, MigratePlan } from './migrate-command.js';
import { folderLevels, timeoutMs } from './options.js';
import { parseServerUrl } from './server-url.js';
import { formatVerifyReport } from './verify-output.js';
import { verifyJson } from './json-result.js';

export interface VerifyCliOptions extends ConnectionCliOptions {
  folder: string;
  deep?: boolean;
  json?: boolean;
  /** Accepted so a migrate command line works unchanged; verify reads and writes no state. */
  stateDir?: string;
}

/** Verifies one planned mailbox pair (batch --verify), changing nothing. */
export async function verifyPlanned(plan: MigratePlan, o: MigrateCliOptions, io: CliIo, warn: (m: string) => void): Promise<VerifyReport> {
  const endpoints = await connectionEndpoints(plan.pop3, plan.imap, o, plan.timeoutMs, io, warn);
  return verifyMailbox(endpoints, { folder: plan.levels, deep: false }, { warn });
}

export async function runVerify(pop3Text: string, imapText: string, o: VerifyCliOptions, io: CliIo): Promise<number> {
  const warn = (message: string) => io.stderr.write(`poplift: warning: ${message}\n`);
  const pop3 = parseServerUrl(pop3Text, 'POP3');
  const imap = parseServerUrl(imapText, 'IMAP');
  const levels = folderLevels(o.folder);
  const endpoints = await connectionEndpoints(pop3, imap, o, timeoutMs(o.timeout), io, warn);
  const report = await verifyMailbox(endpoints, { folder: levels, deep: Boolean(o.deep) }, { warn });
  const code = verifyExitCode(report);
  if (o.json) io.stdout.write(`${JSON.stringify(verifyJson(report, code))}\n`);
  else io.stderr.write(formatVerifyReport(report));
  return code;
}
