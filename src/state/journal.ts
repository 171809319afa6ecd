/**
 * The journal of one source mailbox + destination folder pair: what happened
 * to each UIDL. Append-only JSON lines, fsynced per batch, created 0600. A
 * crash can leave a torn last line; it is ignored on load.
 *
 * The journal only saves work: the destination's Message-ID index still
 * decides what is a duplicate when the journal is missing or stale.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, linkSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { NO_FOLLOW, readStateFile, stateFsError } from './state-dir.js';

export type JournalEntry =
  | { t: 'pair'; pop3: string; imap: string; folder: string; at: string }
  /**
   * The folder's UIDVALIDITY (written before the first upload, so a folder
   * recreated after a crash is noticed) and, at the end of a run, UIDNEXT.
   */
  | { t: 'folder'; uidValidity: string; uidNext?: number; messages?: number; at: string }
  /**
   * Every 'appended' entry since the previous 'confirmed' is now proven in
   * the folder, except those named by a 'missing' entry. An appended entry
   * no 'confirmed' follows proves nothing: the run ended before checking.
   */
  | { t: 'confirmed' }
  /**
   * A run starts writing: the 'appended' entries of an earlier run that no
   * 'confirmed' followed stay unproven, whatever this run confirms.
   */
  | { t: 'run'; at: string }
  /**
   * A further source session of this run listed messages its first session
   * did not, which listed `listed` of them: the source serves windows, and a
   * later first listing of that length is looked past again.
   */
  | { t: 'window'; listed: number; at: string }
  /** The server accepted the upload, but the copy is not in the folder. */
  | { t: 'missing'; uidl: string }
  /** An upload was sent and the connection was lost before its answer: whether it was stored is unknown. */
  | ({ t: 'unanswered'; uidl: string } & UnansweredUpload)
  /** `size` is the message's length as read, `listSize` the size the source listed it with. */
  | {
      t: 'appended';
      uidl: string;
      key: string;
      size: number;
      listSize?: number;
      suspect?: true;
      uid?: number;
      uidValidity?: string;
    }
  /** `uid` is the destination copy found (when the folder had it), for a later verified delete. */
  | {
      t: 'duplicate';
      uidl: string;
      key: string;
      size: number;
      listSize?: number;
      suspect?: true;
      sizeDiffers: boolean;
      uid?: number;
      uidValidity?: string;
    }
  /**
   * The folder took the message (at `uid` when known) but stored it changed
   * beyond the copy rule: it is not uploaded again, and never deleted on
   * this entry's word.
   */
  | {
      t: 'changed';
      uidl: string;
      key: string;
      size: number;
      listSize?: number;
      suspect?: true;
      uid?: number;
      uidValidity?: string;
    }
  /** `poison`: the server dropped the connection on this message each time it was tried in that run. */
  | { t: 'failed'; uidl: string; reason: string; poison?: true; side?: 'POP3' | 'IMAP'; listSize?: number }
  /** Committed by QUIT: the message is gone from the source. */
  | { t: 'deleted'; uidl: string };

export interface KnownMessage {
  outcome: 'appended' | 'duplicate' | 'changed';
  key: string;
  size: number;
  /** The size the source listed it with (absent in journals written before it was recorded). */
  listSize: number | undefined;
  /** Read with another length than the source listed: never deleted on this entry's word. */
  suspect: boolean;
  uid: number | undefined;
  uidValidity: string | undefined;
  sizeDiffers: boolean;
}

/**
 * What a later run needs to tell the copy of an upload whose answer was lost
 * from another's, when the server changed it (DedupIndex.unclaimedCopy).
 * `from` is the folder's UIDNEXT (at `uidValidity`) when the run first read
 * it: a copy the server made of the upload has a UID from it on. `keys`,
 * `digests` (the copy rule's) and `sketch` (message/line-sketch.ts, as text)
 * are the message's, so the other uploads whose outcome is unknown are known
 * before they are read again.
 */
export interface UnansweredUpload {
  from?: number;
  uidValidity?: string;
  keys?: string[];
  digests?: { exact: string; tolerant: string; storedAs: string[] };
  sketch?: string;
}

export interface JournalState {
  /** UIDLs whose copy is on the destination (appended or found there). */
  done: Map<string, KnownMessage>;
  /**
   * UIDLs a run uploaded and ended before confirming: whether the server
   * stored them is unknown, so the next run looks for their copy before it
   * sends them again, whatever --dedupe says.
   */
  unconfirmed: Set<string>;
  /**
   * Of the unconfirmed UIDLs whose upload was cut off, what tells their copy
   * apart; `from` is that of the first run that sent them into this folder.
   */
  unanswered: Map<string, UnansweredUpload>;
  deleted: Set<string>;
  /**
   * What `done` said of each message before it was deleted from the source:
   * its copy is still in the folder, and is no other message's.
   */
  deletedCopies: KnownMessage[];
  /** The folder as the last run left it (`messages` is absent in journals written before it was recorded). */
  folder: { uidValidity: string; uidNext: number | undefined; messages?: number } | undefined;
  /** Lines that could not be read (other than a torn last line). */
  badLines: number;
  /**
   * Messages the server dropped the connection on: in how many runs in a row
   * (since the message last moved or failed otherwise), and on which side.
   */
  poisoned: Map<string, number>;
  poisonSide: Map<string, 'POP3' | 'IMAP'>;
  /** The size the source listed a poisoned message with: a reused id naming another message is not it. */
  poisonSize: Map<string, number>;
  /** The length of the first listing of the last run whose further session found more ('window'). */
  windowListed: number | undefined;
}

/** What an 'appended' or 'duplicate' entry says of its message. */
function knownOf(e: Extract<JournalEntry, { t: 'appended' | 'duplicate' | 'changed' }>, sizeDiffers: boolean): KnownMessage {
  return {
    outcome: e.t,
    key: e.key,
    size: e.size,
    listSize: e.listSize,
    suspect: e.suspect === true,
    uid: e.uid,
    uidValidity: e.uidValidity,
    sizeDiffers,
  };
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The fields of an 'unanswered' entry that are what they should be (a journal is read as found). */
function unansweredOf(e: Record<string, unknown>): UnansweredUpload {
  const out: UnansweredUpload = {};
  if (Number.isSafeInteger(e.from) && typeof e.uidValidity === 'string') {
    out.from = e.from as number;
    out.uidValidity = e.uidValidity;
  }
  if (isStrings(e.keys) && e.keys.length > 0) out.keys = e.keys;
  const d = e.digests as Record<string, unknown> | null | undefined;
  if (typeof d === 'object' && d !== null && typeof d.exact === 'string' && typeof d.tolerant === 'string' && isStrings(d.storedAs))
    out.digests = { exact: d.exact, tolerant: d.tolerant, storedAs: d.storedAs };
  if (typeof e.sketch === 'string') out.sketch = e.sketch;
  return out;
}

export function loadJournal(path: string): JournalState {
  const state: JournalState = {
    done: new Map(),
    unconfirmed: new Set(),
    unanswered: new Map(),
    deleted: new Set(),
    deletedCopies: [],
    folder: undefined,
    badLines: 0,
    poisoned: new Map(),
    poisonSide: new Map(),
    poisonSize: new Map(),
    windowListed: undefined,
  };
  /** Appended entries no 'confirmed' has vouched for yet. */
  const unconfirmed = new Map<string, KnownMessage>();
  let text: string;
  try {
    text = readStateFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
    throw stateFsError(err, path, 'read the journal');
  }
  const lines = text.split('\n');
  let lastLine = lines.length - 1;
  while (lastLine >= 0 && lines[lastLine]!.trim() === '') lastLine--;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let e: JournalEntry;
    try {
      const parsed: unknown = JSON.parse(line);
      // `null`, a number or an array is as unreadable as a torn line.
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !('t' in parsed) || typeof parsed.t !== 'string') {
        throw new TypeError('not an entry');
      }
      e = parsed as JournalEntry;
    } catch {
      // The last line may be torn by a crash mid-write; anything else is worth a warning.
      if (i < lastLine) state.badLines++;
      return;
    }
    // Runs in a row that failed on a message by dropping the connection; anything else that became of it ends the row.
    if (e.t === 'failed' && e.poison === true) {
      state.poisoned.set(e.uidl, (state.poisoned.get(e.uidl) ?? 0) + 1);
      if (e.side === 'POP3' || e.side === 'IMAP') state.poisonSide.set(e.uidl, e.side);
      if (typeof e.listSize === 'number') state.poisonSize.set(e.uidl, e.listSize);
    } else if ('uidl' in e && typeof e.uidl === 'string' && e.t !== 'missing') {
      state.poisoned.delete(e.uidl);
      state.poisonSide.delete(e.uidl);
      state.poisonSize.delete(e.uidl);
    }
    switch (e.t) {
      case 'folder':
        state.folder = {
          uidValidity: e.uidValidity,
          uidNext: e.uidNext,
          ...(typeof e.messages === 'number' ? { messages: e.messages } : {}),
        };
        break;
      case 'window':
        if (typeof e.listed === 'number') state.windowListed = e.listed;
        break;
      case 'confirmed':
        for (const [uidl, known] of unconfirmed) {
          state.done.set(uidl, known);
          state.unconfirmed.delete(uidl);
        }
        unconfirmed.clear();
        break;
      case 'run':
        for (const uidl of unconfirmed.keys()) state.unconfirmed.add(uidl);
        unconfirmed.clear();
        break;
      case 'unanswered': {
        state.unconfirmed.add(e.uidl);
        const known = unansweredOf(e as unknown as Record<string, unknown>);
        const earlier = state.unanswered.get(e.uidl);
        // The earliest run that sent it bounds where its copy can be, while the folder is the same.
        if (
          earlier?.from !== undefined &&
          earlier.uidValidity === known.uidValidity &&
          (known.from === undefined || earlier.from < known.from)
        )
          known.from = earlier.from;
        state.unanswered.set(e.uidl, known);
        break;
      }
      case 'missing':
        unconfirmed.delete(e.uidl);
        state.unconfirmed.delete(e.uidl);
        state.done.delete(e.uidl);
        break;
      case 'appended':
        unconfirmed.set(e.uidl, knownOf(e, false));
        break;
      case 'duplicate':
        state.done.set(e.uidl, knownOf(e, e.sizeDiffers));
        break;
      case 'changed':
        // What the folder took is known at once: the message is not one of unknown outcome.
        unconfirmed.delete(e.uidl);
        state.done.set(e.uidl, knownOf(e, false));
        break;
      case 'failed':
        // A failure is retried next run; it does not undo an earlier success.
        break;
      case 'deleted': {
        state.deleted.add(e.uidl);
        const known = state.done.get(e.uidl);
        if (known) state.deletedCopies.push(known);
        state.done.delete(e.uidl);
        unconfirmed.delete(e.uidl);
        state.unconfirmed.delete(e.uidl);
        break;
      }
      default:
        break;
    }
    // What became of a message since: it is no longer an upload of unknown outcome.
    if (e.t === 'duplicate' || e.t === 'changed') state.unconfirmed.delete(e.uidl);
  });
  // The last run ended before confirming its uploads.
  for (const uidl of unconfirmed.keys()) state.unconfirmed.add(uidl);
  for (const uidl of state.unanswered.keys()) if (!state.unconfirmed.has(uidl)) state.unanswered.delete(uidl);
  return state;
}

function endsWithNewline(fd: number): boolean {
  const size = fstatSync(fd).size;
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

export class JournalWriter {
  private fd: number | undefined;
  private buffered: string[] = [];
  /** Written before the first other entry, and not at all by a run that records nothing. */
  private header: string | undefined;

  constructor(private readonly path: string) {}

  /** The entry a new journal starts with (what it is the journal of). */
  begin(entry: JournalEntry): void {
    this.header = JSON.stringify(entry);
  }

  add(entry: JournalEntry): void {
    this.buffered.push(JSON.stringify(entry));
  }

  /** Writes what was added since the last flush and fsyncs it. */
  flush(): void {
    if (this.buffered.length === 0) return;
    // This run's entries start here: what an earlier run left unconfirmed is not for it to confirm.
    if (this.fd === undefined) this.buffered.unshift(JSON.stringify({ t: 'run', at: new Date().toISOString() } satisfies JournalEntry));
    if (this.header !== undefined) {
      this.buffered.unshift(this.header);
      this.header = undefined;
    }
    let text = `${this.buffered.join('\n')}\n`;
    try {
      if (this.fd === undefined) {
        // 0600: the journal names messages and folders. A link planted under its name is not followed (ELOOP).
        this.fd = openSync(this.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | NO_FOLLOW, 0o600);
        // A torn last line from a crash must not swallow the first new entry.
        if (!endsWithNewline(this.fd)) text = `\n${text}`;
      }
      this.buffered = [];
      writeSync(this.fd, text);
      fsyncSync(this.fd);
    } catch (err) {
      throw stateFsError(err, this.path, 'write the journal');
    }
  }

  close(): void {
    try {
      this.flush();
    } finally {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** The `pair` entry a journal starts with: which mailbox and folder it belongs to. */
function journalPair(path: string): { pop3: string; imap: string; folder: string } | undefined {
  let text: string;
  try {
    text = readStateFile(path);
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as JournalEntry | null;
      if (e !== null && typeof e === 'object' && e.t === 'pair') return { pop3: e.pop3, imap: e.imap, folder: e.folder };
    } catch {
      // Not this line.
    }
  }
  return undefined;
}

/** Whether the journal at `legacyPath` (an older name) is this pair's and `path` does not exist yet. */
export function legacyJournalBelongs(legacyPath: string, path: string, pair: { pop3: string; imap: string; folder: string }): boolean {
  if (legacyPath === path || existsSync(path) || !existsSync(legacyPath)) return false;
  const found = journalPair(legacyPath);
  return found !== undefined && found.pop3 === pair.pop3 && found.imap === pair.imap && found.folder === pair.folder;
}

/**
 * Renames a journal from an older naming scheme to `path` when it surely
 * belongs to this pair: its `pair` entry names the same POP3 and IMAP URLs
 * (scheme, host and port) and folder. Otherwise it is left alone (another
 * port's mailbox may own it) and the destination's index does the journal's
 * work. Returns whether it was moved.
 */
export function adoptLegacyJournal(legacyPath: string, path: string, pair: { pop3: string; imap: string; folder: string }): boolean {
  if (!legacyJournalBelongs(legacyPath, path, pair)) return false;
  try {
    // link + unlink rather than rename: never replaces a journal another run wrote meanwhile.
    linkSync(legacyPath, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw stateFsError(err, path, 'rename the journal to');
  }
  try {
    unlinkSync(legacyPath);
  } catch {
    // Another run adopted it at the same moment; both names are one file.
  }
  return true;
}
