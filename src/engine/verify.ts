/**
 * Verification: proves, without changing anything on either side, that every
 * message of a POP3 mailbox is in an IMAP folder.
 *
 * A POP3 message is there when the folder holds a message with its dedup key
 * that is the message by the copy rule (message/copy-rule.ts), the same rule
 * --delete applies: byte-equal, or equal once the changes servers are known
 * to make on storage are undone (then it is reported with the changes by
 * name). Without --deep a copy with the key and the message's exact size is
 * taken as it, so the source side needs only headers and sizes: `TOP n 0`
 * and the LIST size when the server offers TOP (a message that does not
 * match that way is read whole with RETR, since LIST sizes are not always
 * exact), RETR otherwise. A message whose key is there only with another
 * size is judged by its bytes: it and its candidate copies are read and
 * compared by the rule, since a server that changes a message on storage
 * changes its size. A Message-ID that several source messages carry does
 * not settle any of them by size (distinct messages may share one: a sensor
 * sends every reading under one): each is judged by its bytes. Without TOP
 * the keys are known only once every message was read, so such messages are
 * read again. A message without a usable Message-ID has a fallback
 * key, which the folder's index knows only up to its header fields: it is
 * always judged by its bytes against the copies with those fields. With --deep
 * every message is judged by its bytes. Copies come with BODY[] (BINARY[]
 * when the message holds NUL, which a BODY[] literal cannot carry, unless it
 * has base64 or quoted-printable parts, which BINARY[] returns decoded: such
 * a message is noted as not compared).
 *
 * Memory stays bounded: messages to judge are held in batches of at most
 * BATCH_MESSAGES messages or BATCH_BYTES octets (one larger message alone),
 * whose copies are fetched and judged one at a time before more is read.
 *
 * Nothing is written: no DELE, no APPEND, no folder creation; the folder is
 * only EXAMINEd and fetched with PEEK; after a RETR the POP3 session sends
 * RSET before QUIT, so servers that mark retrieved messages read (Dovecot)
 * forget it.
 */
import { PopliftError } from '../errors.js';
import type { FolderIndex, FolderInfo, IndexedMessage, MailDestination, MailSource, StoreEndpoints } from '../store/mail-store.js';
import { readableHeader } from '../message/display.js';
import { firstHeader, headerBlock, parseHeaders, type HeaderField } from '../message/headers.js';
import { identityKey, isFallbackKey } from '../message/identity-key.js';
import { copyDigests, judgeCopy, movedLinesDigest, serverChanges, SERVER_CHANGES, type CopyDigests } from '../message/copy-rule.js';
import { messageKeys } from '../message/prepared-message.js';
import { CopyLookup } from './copy-lookup.js';
import { scanIndex } from './folder-index.js';
import { isTransient } from '../errors.js';
import { option } from '../option-hint.js';

export interface VerifyOptions {
  /** The folder, split into levels on '/'. */
  folder: string[];
  /** Judge every message by its bytes, not only those whose copy has another size. */
  deep: boolean;
}

export interface VerifyHooks {
  warn(message: string): void;
}

/**
 * Why a POP3 message is not proven to be in the folder:
 * - missing: no message in the folder has its key;
 * - size-differs: messages with its key are there, none with its size, and none is the message by the copy rule
 *   (they may be other messages that share a Message-ID);
 * - altered: (--deep) a copy with its key and size is there, but it is not the message by the copy rule;
 * - unreadable: the POP3 server refused to send it (e.g. it was deleted meanwhile).
 */
export type VerifyProblemKind = 'missing' | 'size-differs' | 'altered' | 'unreadable';

export interface VerifyProblem {
  problem: VerifyProblemKind;
  /** POP3 UIDL (or message number when the server has no UIDL). */
  uidl: string;
  /** POP3 message number in this session. */
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
  pop3: string;
  imap: string;
  folder: string;
  deep: boolean;
  /** How the POP3 side was read: TOP n 0 (headers) or RETR (whole messages). */
  read: 'TOP' | 'RETR';
  folderExists: boolean;
  /** Messages in the POP3 mailbox. */
  found: number;
  /** Messages in the folder. */
  folderMessages: number;
  /** POP3 messages proven to be in the folder. */
  present: number;
  /** Problems of kind missing, size-differs and unreadable. */
  missing: number;
  /** Problems of kind altered. */
  altered: number;
  /** Of `present`, the messages whose copy the server stored with its changes (the server-changed notes). */
  serverChanged: number;
  /** Per change, how many of those messages it concerns (a message may have more than one). */
  serverChanges: Partial<Record<ServerChange, number>>;
  /** In POP3 message order. */
  problems: VerifyProblem[];
  notes: VerifyNote[];
  warnings: string[];
  seconds: number;
}

/** 0 when every POP3 message is proven to be in the folder, 1 otherwise. */
export function verifyExitCode(report: VerifyReport): 0 | 1 {
  return report.problems.length > 0 ? 1 : 0;
}

interface Described {
  uidl: string;
  number: number;
  subject: string | undefined;
  date: string | undefined;
}

/** The best a candidate copy did under the copy rule. */
type Judged =
  | { verdict: 'identical'; uid: number }
  | { verdict: 'server-changed'; uid: number; changes: ServerChange[] }
  | { verdict: 'different'; uid: number; exact: string };

/** A message held, with its bytes, until its candidate copies have been fetched and judged. */
interface Pending extends Described {
  size: number;
  key: string;
  content: Buffer;
  digests: CopyDigests;
  copies: IndexedMessage[];
  nul: boolean;
  /** Whether BINARY[] would return it as stored: it has no base64 or quoted-printable part, which BINARY decodes. */
  binarySafe: boolean;
  /** Its key is a fallback key: `copies` share its header fields, and only their bytes can tell which is its copy. */
  byHeadersOnly: boolean;
  judged: Judged | undefined;
  /** A copy with its lines in another order (CopyLookup.rebuilt), once one was fetched. */
  rebuiltUid?: number;
  /** movedLinesDigest of `content`, once needed. */
  moved?: string;
}

/** New destination sessions in a row, without a message fetched between them, before a fetch gives up. */
const FETCH_RECONNECTS = 3;

/** What a batch of messages to judge may hold before their copies are fetched: memory stays bounded. */
const BATCH_MESSAGES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;

/** A MIME part BINARY[] would return decoded (and relabelled), so not as stored. */
const ENCODED_PART = /content-transfer-encoding:[ \t]*(base64|quoted-printable)/i;

/** The server changes a message and its copy differ by, in SERVER_CHANGES order. */
function changesBetween(original: Buffer, copy: Buffer): ServerChange[] {
  const names = serverChanges(original, copy) ?? [];
  return (Object.keys(SERVER_CHANGES) as ServerChange[]).filter((id) => names.includes(SERVER_CHANGES[id]));
}

/** "line ends rewritten, 8-bit header bytes replaced by X" */
export function describeChanges(changes: readonly ServerChange[]): string {
  return changes.map((c) => SERVER_CHANGES[c]).join(', ');
}

function listCopies(copies: readonly IndexedMessage[]): string {
  const shown = copies.slice(0, 3).map((c) => `UID ${c.uid}, ${c.size} octets`);
  if (copies.length > 3) shown.push(`${copies.length - 3} more`);
  return shown.join('; ');
}

export async function verifyMailbox(endpoints: StoreEndpoints, options: VerifyOptions, hooks: VerifyHooks): Promise<VerifyReport> {
  const started = performance.now();
  const report: VerifyReport = {
    pop3: endpoints.sourceLabel,
    imap: endpoints.destinationLabel,
    folder: options.folder.join('/'),
    deep: options.deep,
    read: 'RETR',
    folderExists: false,
    found: 0,
    folderMessages: 0,
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
  const warn = (message: string) => {
    report.warnings.push(message);
    hooks.warn(message);
  };
  const problem = (p: Omit<VerifyProblem, 'detail'>, detail: string) => {
    report.problems.push({ ...p, detail });
    if (p.problem === 'altered') report.altered++;
    else report.missing++;
  };

  let source: MailSource | undefined;
  let target: MailDestination | undefined;
  /** The folder as the current destination session opened it (a new session opens it again). */
  let openFolder: FolderInfo | undefined;
  /** False once the folder was deleted or recreated: its UIDs no longer name the indexed copies. */
  let comparable = true;
  try {
    // Both logins first, in parallel, as migrate does: a wrong password on either side fails before any work.
    const [s, t] = await Promise.allSettled([endpoints.connectSource(), endpoints.connectDestination()]);
    if (s.status === 'fulfilled') source = s.value;
    if (t.status === 'fulfilled') target = t.value;
    if (s.status === 'rejected') throw s.reason;
    if (t.status === 'rejected') throw t.reason;
    let pop3 = source!;
    const imap = target!;

    const listing = await pop3.list();
    if (!listing.hasUidl) warn(`POP3 server ${pop3.server} does not support UIDL: messages are named by their number in this session.`);
    if (listing.window !== undefined) {
      const w = listing.window;
      warn(
        `POP3 server ${pop3.server} (${w.server}) lists at most a set number of its newest messages (${w.limit} by default; this session listed ${listing.order.length}); older messages may be unreachable over POP3 and were not checked: ${w.advice}.`,
      );
    }
    const folder: FolderInfo = await imap.openFolder(options.folder, false);
    openFolder = folder;
    report.folderExists = folder.exists;
    if (!folder.exists && listing.order.length === 0)
      warn(`IMAP folder '${report.folder}' does not exist (and the POP3 mailbox is empty).`);
    else if (!folder.exists) {
      // Every message would be reported missing: say instead what the account has.
      const names = await imap.listFolders().catch(() => []);
      const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? `, and ${names.length - 20} more` : '');
      throw new PopliftError(
        `IMAP folder '${report.folder}' does not exist on IMAP server ${imap.server}${names.length > 0 ? `; the account has: ${shown}` : ''}. Give the folder with ${option('folder')} ('/' separates levels).`,
        { side: 'IMAP', server: imap.server, code: 'IMAP_FOLDER_MISSING' },
      );
    }
    const index: FolderIndex = new Map();
    await imap.inspect(folder, { flags: false, scan: scanIndex(index) });
    const lookup = new CopyLookup(index, fetchCopies);
    for (const list of index.values()) report.folderMessages += list.length;
    report.found = listing.order.length;

    const numbers = listing.order.map((uidl) => listing.number(uidl)!);
    const uidlOf = (n: number): string => listing.uidlOf(n)!;
    const listSize = (n: number): number => listing.size(uidlOf(n))!;
    const describe = (n: number, fields: HeaderField[]): Described => ({
      uidl: uidlOf(n),
      number: n,
      subject: readableHeader(firstHeader(fields, 'subject')),
      date: readableHeader(firstHeader(fields, 'date')),
    });
    const unreadable = (n: number, err: Error) =>
      problem(
        {
          problem: 'unreadable',
          uidl: uidlOf(n),
          number: n,
          size: listSize(n),
          key: undefined,
          subject: undefined,
          date: undefined,
          copies: [],
        },
        err.message,
      );

    // A Message-ID is a claim: distinct messages may share one (every reading of a sensor), and then a
    // copy with the key and the size may be another of them. A message whose Message-ID key other
    // source messages carry too is judged by its bytes, never settled by its size.
    const keyCount = new Map<string, number>();
    const count = (key: string) => {
      if (key.startsWith('mid:')) keyCount.set(key, (keyCount.get(key) ?? 0) + 1);
    };
    const shared = (key: string) => (keyCount.get(key) ?? 0) > 1;

    // Headers and LIST size settle most messages without reading them whole.
    // A server that rebuilds what it serves keeps the size it computed: a copy's size proves nothing there.
    const deep = options.deep || imap.rebuildsMessages === true;
    if (deep && !options.deep) {
      report.deep = true;
      warn(
        `IMAP server ${imap.server} serves each message rebuilt from what it stored (WildDuck), so a copy's size proves nothing: every message was read whole and judged by the copy rule, as with ${option('deep')}.`,
      );
    }
    const useTop = !deep && pop3.readsHeaders;
    report.read = useTop ? 'TOP' : 'RETR';
    let toRead = numbers;
    if (useTop) {
      toRead = [];
      /** Messages a copy with their key and size settles, unless their key turns out shared. */
      const bySize: Array<{ n: number; key: string }> = [];
      await pop3.readHeaders(
        numbers,
        (n, head) => {
          const size = listSize(n);
          const fields = parseHeaders(headerBlock(head));
          const key = identityKey(fields, size);
          count(key);
          const copies = index.get(key);
          if (copies?.some((c) => c.size === size)) {
            bySize.push({ n, key });
          } else if (copies === undefined && key.startsWith('mid:')) {
            // A Message-ID key does not depend on the size: reading the whole message would not find it either.
            problem(
              { problem: 'missing', ...describe(n, fields), size, key, copies: [] },
              `No message with its key (${key}) is in the folder.`,
            );
          } else {
            // Only the exact size (or a fallback key, which includes it) can settle it: LIST sizes may be off.
            toRead.push(n);
          }
        },
        { onError: unreadable },
      );
      for (const { n, key } of bySize) {
        if (shared(key)) toRead.push(n);
        else report.present++;
      }
      toRead.sort((a, b) => a - b);
    }
    /**
     * Reading whole messages without TOP, the keys are known only as they come: a message a copy of its
     * size would settle waits, by number, until every key is known.
     */
    const waiting = new Map<string, number[]>();
    let judgeEvery = false;

    // GNU Mailutils answers RETR for a message it sent TOP for earlier in the session with the
    // headers alone: whole messages are read in a session of their own, found again by UIDL.
    let readNumbers = toRead;
    let numberOf = (n: number) => n;
    if (useTop && toRead.length > 0) {
      await pop3.forget();
      await pop3.commit();
      source = undefined;
      pop3 = source = await endpoints.connectSource();
      const again = await pop3.list();
      const earlier = new Map<number, number>();
      readNumbers = [];
      for (const n of toRead) {
        const now = again.number(uidlOf(n));
        if (now === undefined) {
          unreadable(n, new Error(`POP3 server ${pop3.server} no longer lists it under its UIDL.`));
          continue;
        }
        earlier.set(now, n);
        readNumbers.push(now);
      }
      numberOf = (now) => earlier.get(now)!;
    }
    let batch: Pending[] = [];
    let batchBytes = 0;
    const onMessage = (now: number, content: Buffer): Promise<void> | undefined => {
      const n = numberOf(now);
      const keys = messageKeys(content);
      const described = describe(n, keys.fields);
      const copies = lookup.candidates([keys.key, ...keys.altKeys]);
      const base = { ...described, size: content.length, key: keys.key };
      // A fallback key finds only the messages with its header fields: which is its copy, if any, only bytes tell.
      const byHeadersOnly = isFallbackKey(keys.key);
      if (!useTop && !judgeEvery) count(keys.key);
      if (copies.length === 0) {
        problem({ problem: 'missing', ...base, copies: [] }, `No message with its key (${keys.key}) is in the folder.`);
        return;
      }
      if (!deep && !byHeadersOnly && !judgeEvery && copies.some((c) => c.size === content.length)) {
        if (!useTop && keys.key.startsWith('mid:')) {
          const ns = waiting.get(keys.key);
          if (ns) ns.push(n);
          else waiting.set(keys.key, [n]);
          return;
        }
        if (!shared(keys.key)) {
          report.present++;
          return;
        }
      }
      // Not settled by the size: a server that changes a message on storage changes its size too, so
      // it and its copies are judged by their bytes.
      const nul = content.includes(0);
      batch.push({
        ...base,
        content,
        digests: copyDigests(content),
        copies,
        nul,
        binarySafe: nul && !ENCODED_PART.test(content.toString('latin1')),
        byHeadersOnly,
        judged: undefined,
      });
      batchBytes += content.length;
      if (batch.length < BATCH_MESSAGES && batchBytes < BATCH_BYTES) return;
      const full = batch;
      batch = [];
      batchBytes = 0;
      return judgeBatch(full);
    };
    const onError = (now: number, err: Error) => unreadable(numberOf(now), err);
    await pop3.retrieve(readNumbers, onMessage, { onError });
    const again: number[] = [];
    for (const [key, ns] of waiting) {
      if (shared(key)) again.push(...ns);
      else report.present += ns.length;
    }
    if (again.length > 0) {
      judgeEvery = true;
      await pop3.retrieve(
        again.sort((a, b) => a - b),
        onMessage,
        { onError },
      );
    }
    // Servers such as Dovecot mark retrieved messages read, at QUIT or even at a disconnect; RSET makes them forget.
    if (toRead.length > 0) await pop3.forget();
    await pop3.commit();
    source = undefined;

    if (batch.length > 0) await judgeBatch(batch);
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
  } finally {
    source?.close();
    await target?.close().catch(() => undefined);
  }

  /**
   * The destination session may have sat idle while POP3 was read, which can take longer than a server's
   * inactivity timeout (minutes with a slow POP3 server): when it is gone a new session opens the folder.
   */
  async function reconnect(): Promise<void> {
    const lost = target;
    target = undefined;
    await lost?.close().catch(() => undefined);
    target = await endpoints.connectDestination();
    const again = await target.openFolder(options.folder, false);
    if (again.exists && again.uidValidity === openFolder!.uidValidity) {
      openFolder = again;
      return;
    }
    // The UIDs of the index name nothing, or other messages, in a folder that was deleted or recreated.
    comparable = false;
    warn(
      `IMAP folder '${report.folder}' was ${again.exists ? 'recreated (its UIDVALIDITY changed)' : 'deleted'} during the check: its copies could not be compared; run verify again.`,
    );
  }

  /** Each of `uids` still in the folder, handed to `each` once, over a new session when the current one drops. */
  async function fetchCopies(uids: readonly number[], binary: boolean, each: (uid: number, content: Buffer) => void): Promise<void> {
    const delivered = new Set<number>();
    let left = [...new Set(uids)];
    let failures = 0;
    while (left.length > 0 && comparable) {
      const before = delivered.size;
      try {
        await target!.fetchBodies(openFolder!, left, binary, (uid, content) => {
          if (delivered.has(uid)) return;
          delivered.add(uid);
          each(uid, content);
        });
        return;
      } catch (err) {
        // A session that delivered something before it dropped may be given more tries than one that fails at once.
        failures = delivered.size > before ? 1 : failures + 1;
        if (!isTransient(err) || failures > FETCH_RECONNECTS) throw err;
        left = left.filter((uid) => !delivered.has(uid));
        await reconnect();
      }
    }
  }

  /** Fetches the candidate copies of `batch` one at a time, judges each by the copy rule and reports every message. */
  async function judgeBatch(batch: Pending[]): Promise<void> {
    const binary = target!.readsBinary;
    const useBinary = (p: Pending) => p.nul && p.binarySafe && binary;
    for (const asBinary of [false, true]) {
      const group = batch.filter((p) => useBinary(p) === asBinary);
      const waiting = new Map<number, Pending[]>();
      for (const p of group) for (const c of p.copies) waiting.set(c.uid, [...(waiting.get(c.uid) ?? []), p]);
      if (waiting.size === 0) continue;
      await fetchCopies([...waiting.keys()], asBinary, (uid, content) => {
        const digests = copyDigests(content);
        let moved: string | undefined;
        for (const p of waiting.get(uid) ?? []) {
          if (p.judged?.verdict === 'identical') continue;
          const verdict = judgeCopy(p.digests, digests);
          if (verdict === 'different' && p.rebuiltUid === undefined) {
            moved ??= movedLinesDigest(content);
            p.moved ??= movedLinesDigest(p.content);
            if (moved === p.moved) p.rebuiltUid = uid;
          }
          if (verdict === 'identical') p.judged = { verdict, uid };
          else if (verdict === 'server-changed') {
            if (p.judged?.verdict !== 'server-changed') p.judged = { verdict, uid, changes: changesBetween(p.content, content) };
          } else if (p.judged === undefined || (p.judged.verdict === 'different' && content.length === p.size)) {
            // The copy named in the report is one of its size, when there is one.
            p.judged = { verdict, uid, exact: digests.exact };
          }
        }
      });
    }
    for (const p of batch) conclude(p, useBinary(p));
  }

  /** Reports `p` as its best copy was judged. */
  function conclude(p: Pending, viaBinary: boolean): void {
    const described: Described = { uidl: p.uidl, number: p.number, subject: p.subject, date: p.date };
    const base = { problem: 'altered' as const, ...described, size: p.size, key: p.key, copies: p.copies };
    const judged = p.judged;
    if (judged?.verdict === 'identical') {
      report.present++;
    } else if (judged?.verdict === 'server-changed') {
      report.present++;
      report.notes.push({
        note: 'server-changed',
        ...described,
        uid: judged.uid,
        changes: judged.changes,
        detail: `Stored with the server's changes: equal to UID ${judged.uid} once they are undone (${describeChanges(judged.changes)}).`,
      });
    } else if (p.nul && !viaBinary && judged !== undefined) {
      report.present++;
      report.notes.push({
        note: 'not-compared',
        ...described,
        uid: judged.uid,
        changes: [],
        detail: target!.readsBinary
          ? 'Not compared: it contains NUL bytes, which only FETCH BINARY returns, and base64 or quoted-printable parts, which FETCH BINARY returns decoded.'
          : 'Not compared: it contains NUL bytes, which the server can return only with FETCH BINARY, and it does not offer BINARY.',
      });
    } else if (p.rebuiltUid !== undefined) {
      problem(
        base,
        `Stored changed, not proven: its copy (UID ${p.rebuiltUid}) holds its lines in another order (a server that stores a message as MIME parts and rebuilds it, such as WildDuck, serves the text after the last part before the first). poplift neither uploads it again nor deletes it; look at the copy, and delete the message from POP3 yourself once it will do.`,
      );
    } else if (judged === undefined) {
      problem({ ...base, problem: 'missing' }, `Its copy (${listCopies(p.copies)}) was removed from the folder during the check.`);
    } else if (p.byHeadersOnly) {
      problem(
        { ...base, problem: 'missing' },
        `No message with its key (${p.key}) is in the folder; ${p.copies.length === 1 ? '1 with the same header fields is another message' : `${p.copies.length} with the same header fields are other messages`}.`,
      );
    } else if (!p.copies.some((c) => c.size === p.size)) {
      problem(
        { ...base, problem: 'size-differs' },
        `The folder holds its key (${p.key}) only with another size (${listCopies(p.copies)}), not with its ${p.size} octets, and no such copy is the message, even once the changes servers make on storage are undone: that may be another message with the same Message-ID.`,
      );
    } else {
      problem(
        base,
        `Same key and size as ${p.copies
          .filter((c) => c.size === p.size)
          .map((c) => `UID ${c.uid}`)
          .join(
            ', ',
          )}, but different bytes, even once the changes servers make on storage are undone (SHA-256 ${p.digests.exact.slice(0, 16)}… on POP3, ${judged.exact.slice(0, 16)}… on IMAP).`,
      );
    }
  }
}
