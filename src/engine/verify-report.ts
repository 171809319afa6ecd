/**
 * What `poplift verify` reports, and the report's own arithmetic: a new
 * report, its tally of server changes, and the junk folder's check merged in.
 */
import { SERVER_CHANGES } from '../message/copy-rule.js';
import type { IndexedMessage, StoreEndpoints } from '../store/mail-store.js';

export interface VerifyOptions {
  /** The folder, split into levels on '/'. */
  folder: string[];
  /** Judge every message by its bytes, not only those whose copy has another size. */
  deep: boolean;
  /**
   * The folder migrate --junk put messages marked as spam into (or 'auto':
   * the folder the server marks \\Junk): a message not in the folder is
   * looked for there too.
   */
  junk?: readonly string[] | 'auto';
}

/** One folder's check: `only`, when set, names the messages to check (the others are not looked at). */
export interface FolderCheck extends VerifyOptions {
  only?: ReadonlySet<string>;
}

export interface VerifyHooks {
  warn(message: string): void;
}

/**
 * Why a source message is not proven to be in the folder:
 * - missing: no message in the folder has its key;
 * - size-differs: messages with its key are there, none with its size, and none is the message by the copy rule
 *   (they may be other messages that share a Message-ID);
 * - altered: (--deep) a copy with its key and size is there, but it is not the message by the copy rule;
 * - unreadable: the source server refused to send it (e.g. it was deleted meanwhile).
 */
export type VerifyProblemKind = 'missing' | 'size-differs' | 'altered' | 'unreadable';

export interface VerifyProblem {
  problem: VerifyProblemKind;
  /** The source's UIDL (or message number when the server has no UIDL). */
  uidl: string;
  /** The source's message number in this session. */
  number: number;
  /** Octets as RETR delivers the message (its LIST size when it was not read whole). */
  size: number;
  /** Its dedup key; undefined when it could not be read. */
  key: string | undefined;
  subject: string | undefined;
  date: string | undefined;
  /** The folder's messages with this key. */
  copies: IndexedMessage[];
  /** One sentence for people. */
  detail: string;
}

/** A change a server is known to make when it stores a message, by its stable name (copy-rule.ts SERVER_CHANGES). */
export type ServerChange = keyof typeof SERVER_CHANGES;

/**
 * A message that is there, with something worth knowing:
 * - server-changed: its copy is the message by the copy rule only once `changes` are undone, which the server
 *   made when it stored it (line ends rewritten, bare CRs deleted, 8-bit header bytes made X, its own header
 *   fields, a line added to an empty body);
 * - not-compared: (--deep, or a copy of another size) it holds NUL bytes, which only FETCH BINARY returns as
 *   stored, and the server offers no BINARY or the message has base64/quoted-printable parts (which BINARY
 *   returns decoded), so its bytes were not compared.
 */
export interface VerifyNote {
  note: 'server-changed' | 'not-compared';
  uidl: string;
  number: number;
  subject: string | undefined;
  date: string | undefined;
  uid: number | undefined;
  /** server-changed: the fewest known changes that make the copy equal to the message; empty otherwise. */
  changes: ServerChange[];
  detail: string;
}

export interface VerifyReport {
  /** The source's label (a public JSON field: its name stays). */
  pop3: string;
  /** The destination's label (a public JSON field: its name stays). */
  imap: string;
  folder: string;
  deep: boolean;
  /** How the source was read: TOP n 0 (headers) or RETR (whole messages). */
  read: 'TOP' | 'RETR';
  folderExists: boolean;
  /** Messages in the source mailbox. */
  found: number;
  /** Messages in the folder. */
  folderMessages: number;
  /** Source messages proven to be in the folder. */
  present: number;
  /** With --junk: the junk folder looked in (null: none, or --junk auto found none). */
  junkFolder: string | null;
  /** Of `present`, the messages proven to be in the junk folder. */
  inJunk: number;
  /** Problems of kind missing, size-differs and unreadable. */
  missing: number;
  /** Problems of kind altered. */
  altered: number;
  /** Of `present`, the messages whose copy the server stored with its changes (the server-changed notes). */
  serverChanged: number;
  /** Per change, how many of those messages it concerns (a message may have more than one). */
  serverChanges: Partial<Record<ServerChange, number>>;
  /** In the source's message order. */
  problems: VerifyProblem[];
  notes: VerifyNote[];
  warnings: string[];
  seconds: number;
}

/** 0 when every source message is proven to be in the folder, 1 otherwise. */
export function verifyExitCode(report: VerifyReport): 0 | 1 {
  return report.problems.length > 0 ? 1 : 0;
}

/** "line ends rewritten, 8-bit header bytes replaced by X" */
export function describeChanges(changes: readonly ServerChange[]): string {
  return changes.map((c) => SERVER_CHANGES[c]).join(', ');
}

/** A report of nothing checked yet. */
export function emptyReport(endpoints: StoreEndpoints, options: FolderCheck): VerifyReport {
  return {
    pop3: endpoints.sourceLabel,
    imap: endpoints.destinationLabel,
    folder: options.folder.join('/'),
    deep: options.deep,
    read: 'RETR',
    folderExists: false,
    found: 0,
    folderMessages: 0,
    junkFolder: null,
    inJunk: 0,
    present: 0,
    missing: 0,
    altered: 0,
    serverChanged: 0,
    serverChanges: {},
    problems: [],
    notes: [],
    warnings: [],
    seconds: 0,
  };
}

/** Tallies the server changes, puts problems and notes in the source's order, and times the check. */
export function completeReport(report: VerifyReport, started: number): VerifyReport {
  const changed = report.notes.filter((n) => n.note === 'server-changed');
  report.serverChanged = changed.length;
  // In SERVER_CHANGES order, so reports list them alike whatever message came first.
  for (const c of Object.keys(SERVER_CHANGES) as ServerChange[]) {
    const n = changed.filter((note) => note.changes.includes(c)).length;
    if (n > 0) report.serverChanges[c] = n;
  }
  report.problems.sort((a, b) => a.number - b.number);
  report.notes.sort((a, b) => a.number - b.number);
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/**
 * The junk folder's check (of `elsewhere`, the messages the folder has no copy of) merged into the
 * folder's report: a message proven there is present, one that is not is told so in its problem.
 */
export function mergeJunk(report: VerifyReport, junk: VerifyReport, elsewhere: ReadonlyMap<string, VerifyProblem>, started: number): void {
  const notThere = new Set(junk.problems.map((p) => p.uidl));
  for (const p of junk.problems) {
    const first = elsewhere.get(p.uidl);
    if (first !== undefined) first.detail += ` IMAP folder '${report.junkFolder}' does not hold it either: ${p.detail}`;
  }
  const proven = [...elsewhere.keys()].filter((u) => !notThere.has(u));
  const found = new Set(proven);
  report.problems = report.problems.filter((p) => !found.has(p.uidl));
  report.missing -= proven.length;
  report.present += proven.length;
  report.inJunk = proven.length;
  report.notes.push(...junk.notes);
  report.serverChanged += junk.serverChanged;
  for (const [change, n] of Object.entries(junk.serverChanges) as Array<[ServerChange, number]>)
    report.serverChanges[change] = (report.serverChanges[change] ?? 0) + n;
  for (const w of junk.warnings) if (!report.warnings.includes(w)) report.warnings.push(w);
  report.seconds = (performance.now() - started) / 1000;
}
