/**
 * poplift status: what the state directory knows of each mailbox that cron,
 * watch or batch runs moved: the last runs, the last success and error, what
 * was moved today and in all, whether a run holds the mailbox now, and a
 * watch's next poll. It reads files only: any user who may read the state
 * directory may run it.
 */
import { join } from 'node:path';
import { displayText as shown, jsonLine } from '../display-text.js';
import { ExitCode, PopliftError } from '../errors.js';
import { knownMailboxes, readHealth, readHistory, type MailboxHealth, type RunRecord } from '../state/history.js';
import { lockHolder } from '../state/lock.js';
import { stateDirectory } from '../state/state-dir.js';
import type { CliIo } from './cli-io.js';
import { wholeNumber } from './options.js';
import { mailboxStatusJson, statusJson, type MailboxStatusJson } from './json-result.js';

export interface StatusCliOptions {
  json?: boolean;
  stateDir?: string;
  runs?: string;
}

/** One mailbox as `poplift status` shows it: the public shape of `status --json` (json-result.ts). */
export type MailboxStatus = MailboxStatusJson;

function statusOf(health: MailboxHealth, stateDir: string, today: string, runs: RunRecord[]): MailboxStatus {
  const holder = health.lockStem === undefined ? undefined : lockHolder(join(stateDir, health.lockStem));
  return mailboxStatusJson(health, today, holder, runs);
}

export function mailboxStatuses(stateDir: string, runs: number, now = new Date()): MailboxStatus[] {
  const today = now.toISOString().slice(0, 10);
  return knownMailboxes(stateDir)
    .flatMap((stem) => {
      const health = readHealth(stateDir, stem);
      if (health === undefined) return [];
      return [statusOf(health, stateDir, today, runs === 0 ? [] : readHistory(stateDir, stem).slice(-runs))];
    })
    .sort((a, b) => `${a.pop3} ${a.folder}`.localeCompare(`${b.pop3} ${b.folder}`));
}

function when(iso: string | null): string {
  return iso === null ? 'never' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function describe(m: MailboxStatus): string {
  const lines = [`${shown(m.pop3)} → ${shown(m.imap)} ${shown(m.folder)}`];
  const last = m.lastRun;
  lines.push(
    `  ${m.status}; last run ${last === null ? 'never' : `${when(last.end)} (${last.mode}, exit ${last.exitCode}, moved ${last.moved}${last.junk ? `, ${last.junk} of them to junk` : ''})`}; last success ${when(m.lastSuccess)}; moved today ${m.movedToday}, in all ${m.movedTotal}`,
  );
  if (m.lastError !== null) lines.push(`  last error ${when(m.lastError.at)}: ${m.lastError.code}: ${shown(m.lastError.message)}`);
  if (m.running !== null) lines.push(`  running now: PID ${m.running.pid} on ${shown(m.running.host)} since ${when(m.running.since)}`);
  if (m.nextPoll !== null && m.running === null) lines.push(`  next poll ${when(m.nextPoll)}`);
  return lines.join('\n');
}

export function runStatus(o: StatusCliOptions, io: CliIo): number {
  const stateDir = stateDirectory(o.stateDir, io.env);
  const runs = o.runs === undefined ? 10 : wholeNumber(o.runs, '--runs', 0);
  let mailboxes: MailboxStatus[];
  try {
    mailboxes = mailboxStatuses(stateDir, runs);
  } catch (err) {
    if (err instanceof PopliftError) throw err;
    throw new PopliftError(`Cannot read the state directory ${stateDir}: ${(err as Error).message}`, {
      code: 'STATE',
    });
  }
  if (o.json) {
    io.stdout.write(jsonLine(statusJson(stateDir, mailboxes)));
    return ExitCode.OK;
  }
  if (mailboxes.length === 0) io.stdout.write(`No runs recorded in ${stateDir} yet.\n`);
  else io.stdout.write(`${mailboxes.map(describe).join('\n\n')}\n`);
  return ExitCode.OK;
}
