/** poplift verify (and batch --verify): proves every POP3 message is in the folder, changing nothing. */
import { jsonLine } from '../display-text.js';
import { signalExitCode } from '../errors.js';
import { verifyExitCode, verifyMailbox, type VerifyReport } from '../engine/verify.js';
import { connectionEndpoints, type ConnectionCliOptions } from './connections.js';
import type { CliIo } from './cli-io.js';
import type { MigrateCliOptions, MigratePlan } from './migrate-command.js';
import { withLoginStatus } from './login-status.js';
import { folderLevels, parseJunk, timeoutMs } from './options.js';
import { Output, outputSettings } from './output.js';
import { parseServerUrl } from './server-url.js';
import { formatVerifyReport } from './verify-output.js';
import { verifyJson } from './json-result.js';

export interface VerifyCliOptions extends ConnectionCliOptions {
  folder: string;
  /** --junk: the junk folder migrate --junk used (auto, a folder, or off). */
  junk?: string;
  deep?: boolean;
  json?: boolean;
  /** Accepted so a migrate command line works unchanged; verify reads and writes no state. */
  stateDir?: string;
}

/** Verifies one planned mailbox pair (batch --verify), changing nothing. */
export async function verifyPlanned(plan: MigratePlan, o: MigrateCliOptions, io: CliIo, warn: (m: string) => void): Promise<VerifyReport> {
  const endpoints = await connectionEndpoints(plan.pop3, plan.imap, o, plan.timeoutMs, io, warn);
  return verifyMailbox(endpoints, { folder: plan.levels, deep: false, junk: plan.junk === 'off' ? undefined : plan.junk }, { warn });
}

export async function runVerify(pop3Text: string, imapText: string, o: VerifyCliOptions, io: CliIo): Promise<number> {
  // Verify prints no progress lines, so the interval is never used; the output gives it the status line on a terminal.
  const output = new Output(io.stderr, outputSettings({ json: o.json, debug: o.debug, progressInterval: '30' }, io.stderr));
  const warn = (message: string) => output.warn(message);
  // Verify changes nothing, so a signal may end it at once; the status line goes first and the terminal is given back.
  const leave = (sig: NodeJS.Signals) => {
    output.close();
    process.exit(signalExitCode(sig));
  };
  process.once('SIGINT', leave);
  process.once('SIGTERM', leave);
  try {
    const pop3 = parseServerUrl(pop3Text, 'POP3');
    const imap = parseServerUrl(imapText, 'IMAP');
    const levels = folderLevels(o.folder);
    const junk = parseJunk(o.junk ?? 'off');
    const reached = await connectionEndpoints(pop3, imap, o, timeoutMs(o.timeout), io, warn);
    const endpoints = withLoginStatus(reached, (text) => output.mailboxStatus(0, text), 'logged in to both servers; checking …');
    const report = await verifyMailbox(
      endpoints,
      { folder: levels, deep: Boolean(o.deep), junk: junk === 'off' ? undefined : junk },
      { warn },
    );
    output.close();
    const code = verifyExitCode(report);
    if (o.json) io.stdout.write(jsonLine(verifyJson(report, code)));
    else io.stderr.write(formatVerifyReport(report));
    return code;
  } finally {
    process.off('SIGINT', leave);
    process.off('SIGTERM', leave);
    output.close();
  }
}
