/**
 * Recognises the answers with which hosted servers say "slow down", "not
 * now" or "no more today", in IMAP and POP3, and turns them into what a run
 * should do: wait and go on, go on with fewer connections, or stop with what
 * is done recorded and exit 6 (run again later). Pure.
 *
 * The texts are the providers' own: Microsoft 365 "Request is throttled.
 * Suggested Backoff Time: N milliseconds" (as NO or BAD), Gmail "[THROTTLED]"
 * at the end of an OK, "* BYE [OVERQUOTA] Account exceeded command or
 * bandwidth limits.", "NO [ALERT] Too many simultaneous connections.",
 * and the RFC 2449/3206 POP3 codes [LOGIN-DELAY], [IN-USE], [SYS/TEMP].
 */
import { PopliftError, type Side } from '../errors.js';

/** One server answer, split: IMAP `A1 NO [CODE] text` or POP3 `-ERR [CODE] text`. */
export interface ServerAnswer {
  status: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH' | '+OK' | '-ERR';
  /** The response code in brackets at the start of the text, upper-cased, without arguments. */
  code?: string | undefined;
  /** The text after the code (or after the status when there is none). */
  text: string;
}

export type ServerSignal =
  /** Slow down. `refused`: the command was not carried out and may be sent again after `waitMs`. */
  | { kind: 'throttle'; waitMs: number; refused: boolean; text: string }
  /** A per-day (or rolling 24 h) command or bandwidth allowance is used up: nothing more today. */
  | { kind: 'daily-quota'; text: string }
  /** This connection is one too many for the account: go on with those already open. */
  | { kind: 'too-many-connections'; text: string }
  /** Busy or briefly unavailable ([LOGIN-DELAY], [IN-USE], [SYS/TEMP], [UNAVAILABLE]); `waitMs` when the server said how long. */
  | { kind: 'temporary'; code: string | undefined; waitMs: number | undefined; text: string }
  /** The account's storage is full: waiting does not help, the user must free space. */
  | { kind: 'over-quota'; text: string };

/** The wait a throttling refusal gets when it names none. */
export const DEFAULT_THROTTLE_WAIT_MS = 5_000;

const IMAP_LINE = /^(?:\*|[^\s*+]+)\s+(OK|NO|BAD|BYE|PREAUTH)\b\s?(.*)$/i;
const POP3_LINE = /^(\+OK|-ERR)\b\s?(.*)$/i;

/** Splits one response line (CRLF optional); undefined for anything that is not a status response. */
export function parseResponseLine(line: string): ServerAnswer | undefined {
  const trimmed = line.replace(/\r?\n$/, '');
  let status: ServerAnswer['status'];
  let rest: string;
  const pop = POP3_LINE.exec(trimmed);
  if (pop) {
    status = pop[1]!.toUpperCase() as ServerAnswer['status'];
    rest = pop[2] ?? '';
  } else {
    const imap = IMAP_LINE.exec(trimmed);
    if (!imap) return undefined;
    status = imap[1]!.toUpperCase() as ServerAnswer['status'];
    rest = imap[2] ?? '';
  }
  const code = /^\[([^\]\s]+)[^\]]*\]\s*/.exec(rest);
  return code ? { status, code: code[1]!.toUpperCase(), text: rest.slice(code[0].length) } : { status, text: rest };
}

const DAILY = /bandwidth|command or bandwidth limits|daily|per day|24 hours/i;
const STORAGE_FULL = /quota exceeded|over quota|mailbox (?:is )?full|storage (?:is )?full|not enough (?:disk )?space/i;
const CONNECTIONS =
  /too many (?:simultaneous |concurrent |open )?connections|maximum number of (?:simultaneous |concurrent )?connections|connection limit/i;
const TEMPORARY_CODES = new Set(['LOGIN-DELAY', 'IN-USE', 'INUSE', 'SYS/TEMP', 'UNAVAILABLE']);

export interface ClassifyContext {
  /** POP3 CAPA `LOGIN-DELAY n`: the seconds a [LOGIN-DELAY] refusal asks for. */
  loginDelaySeconds?: number;
}

/**
 * What the answer asks of the client; undefined for an ordinary answer
 * (success, or a refusal that concerns only this command or message).
 */
export function classifyAnswer(answer: ServerAnswer, context: ClassifyContext = {}): ServerSignal | undefined {
  const { status, code, text } = answer;
  const whole = code === undefined ? text : `[${code}] ${text}`;
  const ok = status === 'OK' || status === '+OK' || status === 'PREAUTH';
  if (code === 'OVERQUOTA' || (!ok && STORAGE_FULL.test(text))) {
    // Gmail closes the connection with BYE [OVERQUOTA] for its daily limits; a full mailbox refuses one APPEND.
    if (DAILY.test(text) || (code === 'OVERQUOTA' && status === 'BYE')) return { kind: 'daily-quota', text: whole };
    return { kind: 'over-quota', text: whole };
  }
  if (!ok && DAILY.test(text) && /exceeded|limit/i.test(text)) return { kind: 'daily-quota', text: whole };
  if (!ok && (CONNECTIONS.test(text) || (code === 'LIMIT' && /connection/i.test(text)))) {
    return { kind: 'too-many-connections', text: whole };
  }
  if (code === 'THROTTLED' || /\[THROTTLED\]|throttl|suggested backoff time/i.test(text)) {
    const backoff = /suggested backoff time:?\s*(\d+)\s*(?:ms|milliseconds)/i.exec(text) ?? /(\d+)\s*milliseconds/i.exec(text);
    const waitMs = backoff ? Number(backoff[1]) : ok ? 0 : DEFAULT_THROTTLE_WAIT_MS;
    return { kind: 'throttle', waitMs, refused: !ok, text: whole };
  }
  if (!ok && code !== undefined && TEMPORARY_CODES.has(code)) {
    const waitMs = code === 'LOGIN-DELAY' && context.loginDelaySeconds !== undefined ? context.loginDelaySeconds * 1000 : undefined;
    return { kind: 'temporary', code, waitMs, text: whole };
  }
  return undefined;
}

/** classifyAnswer on a raw response line. */
export function classifyResponseLine(line: string, context: ClassifyContext = {}): ServerSignal | undefined {
  const answer = parseResponseLine(line);
  return answer === undefined ? undefined : classifyAnswer(answer, context);
}

export type SignalPlan =
  /** Wait this long, then send the refused command again (or go on, for a throttle that refused nothing). */
  | { action: 'wait'; ms: number }
  /** Go on with the connections already open; open no more this run. */
  | { action: 'fewer-connections' }
  /** Stop cleanly: record what is done and exit 6; `resumeAfter` when the server said when. */
  | { action: 'run-later'; resumeAfter: Date | undefined }
  /** Stop the mailbox: waiting will not help (storage full). Exit 1 as for any unfinished mailbox. */
  | { action: 'stop' };

export interface PlanOptions {
  /** The longest single wait a run makes before giving up for today (default 2 minutes). */
  maxWaitMs?: number;
  /** Waits already made in this run for such signals, in total. */
  waitedMs?: number;
  /** The most a run waits in total before it stops and leaves the rest to the next run (default 10 minutes). */
  maxTotalWaitMs?: number;
  /** A temporary refusal that names no wait gets this (default 30 s). */
  temporaryWaitMs?: number;
  now?: Date;
}

/** What to do about a signal: short waits within the run, long ones left to the next run. */
export function planForSignal(signal: ServerSignal, options: PlanOptions = {}): SignalPlan {
  const maxWaitMs = options.maxWaitMs ?? 120_000;
  const maxTotalWaitMs = options.maxTotalWaitMs ?? 600_000;
  const waited = options.waitedMs ?? 0;
  const now = options.now ?? new Date();
  const waitOrLater = (ms: number): SignalPlan =>
    ms <= maxWaitMs && waited + ms <= maxTotalWaitMs
      ? { action: 'wait', ms }
      : { action: 'run-later', resumeAfter: new Date(now.getTime() + ms) };
  switch (signal.kind) {
    case 'throttle':
      return waitOrLater(signal.waitMs);
    case 'temporary':
      return waitOrLater(signal.waitMs ?? options.temporaryWaitMs ?? 30_000);
    case 'too-many-connections':
      return { action: 'fewer-connections' };
    case 'daily-quota':
      return { action: 'run-later', resumeAfter: undefined };
    case 'over-quota':
      return { action: 'stop' };
  }
}

function clock(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * The summary's "stopped" sentence for a run-later stop: "daily quota
 * reached: run again after …".
 */
export function runLaterReason(side: Side, server: string, signal: ServerSignal, resumeAfter: Date | undefined): string {
  const when = resumeAfter === undefined ? 'in a few hours' : `after ${clock(resumeAfter)}`;
  const what =
    signal.kind === 'daily-quota'
      ? 'daily quota reached'
      : signal.kind === 'throttle'
        ? 'throttled for longer than a run waits'
        : signal.kind === 'too-many-connections'
          ? 'no connection free for this account'
          : 'server busy';
  return `${what} (${side} server ${server}: ${signal.text.trim()}): what is done is recorded; run again ${when}.`;
}

/** The error a run ends with when it stops for later: exit 6, code DAILY_QUOTA or THROTTLED. */
export function runLaterError(side: Side, server: string, signal: ServerSignal, resumeAfter: Date | undefined): PopliftError {
  return new PopliftError(runLaterReason(side, server, signal, resumeAfter), {
    side,
    server,
    code: signal.kind === 'daily-quota' ? 'DAILY_QUOTA' : 'THROTTLED',
  });
}
