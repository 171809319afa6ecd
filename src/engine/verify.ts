/**
 * Verification: proves, without changing anything on either side, that every
 * message of a POP3 mailbox is in an IMAP folder.
 *
 * A POP3 message is there when the folder holds a message with its dedup key
 * and its size, or a size a CR-folding server gives it (see prepare.ts).
 * --delete is stricter: it confirms a copy by this run's APPENDUID or by the
 * exact key and size (delete-phase.ts). Without --deep the source side needs
 * only headers and sizes: `TOP n 0` and the LIST size when the server offers
 * TOP (a message that does not match that way is read whole with RETR before
 * it is reported, since LIST sizes are not always exact), RETR otherwise.
 * With --deep every message is read whole and its SHA-256 compared with that
 * of the matching copy, fetched with BODY[] (BINARY[] when the message holds
 * NUL, which a BODY[] literal cannot carry, unless it has base64 or
 * quoted-printable parts, which BINARY[] returns decoded: such a message is
 * noted as not compared).
 *
 * Nothing is written: no DELE, no APPEND, no folder creation; the folder is
 * only EXAMINEd and fetched with PEEK; after a RETR the POP3 session sends
 * RSET before QUIT, so servers that mark retrieved messages read (Dovecot)
 * forget it.
 */
import { ExitCode, PopliftError } from '../errors.js';
import { createHash } from 'node:crypto';
import type { FolderIndex, FolderInfo, IndexedMessage, MailDestination, MailSource, StoreEndpoints } from '../store/mail-store.js';
import { readableHeader } from '../message/display.js';
import { firstHeader, headerBlock, parseHeaders, type HeaderField } from '../message/headers.js';
import { identityKey, indexKeyOf } from '../message/identity-key.js';
import { copyDigests } from '../message/copy-rule.js';
import { foldCrRuns } from '../message/cr-runs.js';
import { messageKeys } from '../message/prepared-message.js';
import { scanIndex } from './folder-index.js';
import { isTransient } from '../errors.js';

export interface VerifyOptions {
  /** The folder, split into levels on '/'. */
  folder: string[];
  /** Compare the full bytes (SHA-256) of each message with its copy. */
  deep: boolean;
}

export interface VerifyHooks {
  warn(message: string): void;
}

/**
 * Why a POP3 message is not proven to be in the folder:
 * - missing: no message in the folder has its key;
 * - size-differs: messages with its key are there, none with its size (they may be other messages that share a Message-ID);
 * - altered: (--deep) a copy with its key and size is there, but its bytes differ;
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
  /** The folder's messages with this key (size-differs), or with this key and size (altered). */
  copies: IndexedMessage[];
  /** One sentence for people. */
  detail: string;
}

/**
 * A message that is there, with something worth knowing:
 * - cr-folded: (--deep) equal to its copy once runs of CRs before LF are folded, which some servers (Dovecot) do on APPEND;
 * - server-changed: (--deep) equal to its copy by the copy rule (message/copy-rule.ts): once the other changes servers
 *   make on storage are undone (bare CRs, Cyrus's 8-bit header bytes, GNU Mailutils' header fields);
 * - not-compared: (--deep) it holds NUL bytes, which only FETCH BINARY returns as stored, and the server offers no
 *   BINARY or the message has base64/quoted-printable parts (which BINARY returns decoded), so its bytes were not compared.
 */
export interface VerifyNote {
  note: 'cr-folded' | 'server-changed' | 'not-compared';
  uidl: string;
  number: number;
  subject: string | undefined;
  date: string | undefined;
  uid: number | undefined;
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

/** A message waiting for its copy's bytes (--deep): hashes only, so memory stays small. */
interface DeepPending extends Described {
  size: number;
  key: string;
  copies: IndexedMessage[];
  sha: string;
  foldedSha: string;
  tolerant: string;
  nul: boolean;
  /** Whether BINARY[] would return it as stored: it has no base64 or quoted-printable part, which BINARY decodes. */
  binarySafe: boolean;
}

interface Hashes {
  sha: string;
  foldedSha: string;
  /** The copy rule's comparison form (message/copy-rule.ts). */
  tolerant: string;
}

/** New destination sessions --deep opens in a row, without a message fetched between them, before it gives up. */
const FETCH_RECONNECTS = 3;

/** A MIME part BINARY[] would return decoded (and relabelled), so not as stored. */
const ENCODED_PART = /content-transfer-encoding:[ \t]*(base64|quoted-printable)/i;

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

function hashes(content: Buffer): Hashes {
  const folded = foldCrRuns(content);
  const sha = sha256(content);
  return { sha, foldedSha: folded === content ? sha : sha256(folded), tolerant: copyDigests(content).tolerant };
}

/** The folder's messages under any of `keys`, each once. */
function copiesOf(index: FolderIndex, keys: readonly string[]): IndexedMessage[] {
  const seen = new Set<number>();
  const out: IndexedMessage[] = [];
  for (const key of keys) {
    for (const m of index.get(key) ?? []) {
      if (seen.has(m.uid)) continue;
      seen.add(m.uid);
      out.push(m);
    }
  }
  return out;
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
    const folder: FolderInfo = await imap.openFolder(options.folder, false);
    report.folderExists = folder.exists;
    if (!folder.exists && listing.order.length === 0)
      warn(`IMAP folder '${report.folder}' does not exist (and the POP3 mailbox is empty).`);
    else if (!folder.exists) {
      // Every message would be reported missing: say instead what the account has.
      const names = await imap.listFolders().catch(() => []);
      const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? `, and ${names.length - 20} more` : '');
      throw new PopliftError(
        `IMAP folder '${report.folder}' does not exist on IMAP server ${imap.server}${names.length > 0 ? `; the account has: ${shown}` : ''}. Give the folder with --folder ('/' separates levels).`,
        { exitCode: ExitCode.PARTIAL, side: 'IMAP', server: imap.server, code: 'IMAP_FOLDER' },
      );
    }
    const index: FolderIndex = new Map();
    await imap.inspect(folder, { flags: false, scan: scanIndex(index) });
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

    // Headers and LIST size settle most messages without reading them whole.
    const useTop = !options.deep && pop3.readsHeaders;
    report.read = useTop ? 'TOP' : 'RETR';
    let toRead = numbers;
    if (useTop) {
      toRead = [];
      await pop3.readHeaders(
        numbers,
        (n, head) => {
          const size = listSize(n);
          const fields = parseHeaders(headerBlock(head));
          const key = identityKey(fields, size);
          const copies = index.get(key);
          if (copies?.some((c) => c.size === size)) {
            report.present++;
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
    }

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
        const uidl = uidlOf(n);
        const now = again.number(uidl);
        if (now === undefined || !again.identified(uidl)) {
          unreadable(n, new Error(`POP3 server ${pop3.server} no longer lists it under its UIDL.`));
          continue;
        }
        earlier.set(now, n);
        readNumbers.push(now);
      }
      numberOf = (now) => earlier.get(now)!;
    }
    const pending: DeepPending[] = [];
    await pop3.retrieve(
      readNumbers,
      (now, content) => {
        const n = numberOf(now);
        const keys = messageKeys(content);
        const described = describe(n, keys.fields);
        const sizes = [content.length, ...keys.altSizes];
        const copies = copiesOf(index, [keys.key, ...keys.altKeys].map(indexKeyOf));
        const matching = copies.filter((c) => sizes.includes(c.size));
        const base = { ...described, size: content.length, key: keys.key };
        // A fallback key finds only messages with the same header fields: which is its copy, if any, only their bytes tell.
        const byContent = keys.key.startsWith('fb:');
        if (copies.length === 0) {
          problem({ problem: 'missing', ...base, copies: [] }, `No message with its key (${keys.key}) is in the folder.`);
        } else if (matching.length === 0 && !options.deep && !byContent) {
          problem(
            { problem: 'size-differs', ...base, copies },
            `The folder holds its key (${keys.key}) only with another size (${listCopies(copies)}), not with its ${content.length} octets: that may be another message with the same Message-ID.`,
          );
        } else if (!options.deep && !byContent) {
          report.present++;
        } else {
          const nul = content.includes(0);
          // A server that changes messages on storage changes their size too: --deep compares the
          // bytes of every copy with the key before it calls the sizes different.
          pending.push({
            ...base,
            copies: matching.length > 0 && !byContent ? matching : copies,
            ...hashes(content),
            nul,
            binarySafe: nul && !ENCODED_PART.test(content.toString('latin1')),
          });
        }
      },
      { onError: (now, err) => unreadable(numberOf(now), err) },
    );
    // Servers such as Dovecot mark retrieved messages read, at QUIT or even at a disconnect; RSET makes them forget.
    if (toRead.length > 0) await pop3.forget();
    await pop3.commit();
    source = undefined;

    if (pending.length > 0) await compareBytes(folder, pending);
    report.problems.sort((a, b) => a.number - b.number);
    report.notes.sort((a, b) => a.number - b.number);
    report.seconds = (performance.now() - started) / 1000;
    return report;
  } finally {
    source?.close();
    await target?.close().catch(() => undefined);
  }

  /**
   * --deep: fetches the candidate copies once each and compares their SHA-256 with the POP3 messages'.
   * The destination session sat idle while the whole POP3 mailbox was read, which can take longer than
   * a server's inactivity timeout (minutes with a slow POP3 server): when it is gone, or drops during
   * the fetch, a new session fetches what is still missing.
   */
  async function compareBytes(indexed: FolderInfo, pending: DeepPending[]): Promise<void> {
    let folder = indexed;
    /** False once the folder was deleted or recreated: its UIDs no longer name the indexed copies. */
    let comparable = true;
    const binary = target!.readsBinary;
    const useBinary = (p: DeepPending) => p.nul && p.binarySafe && binary;
    const bodyHashes = new Map<number, Hashes>();
    const binaryHashes = new Map<number, Hashes>();
    const withNul = pending.filter(useBinary);
    const plain = pending.filter((p) => !useBinary(p));

    const reconnect = async (): Promise<void> => {
      const lost = target;
      target = undefined;
      await lost?.close().catch(() => undefined);
      target = await endpoints.connectDestination();
      const again = await target.openFolder(options.folder, false);
      if (again.exists && again.uidValidity === indexed.uidValidity) {
        folder = again;
        return;
      }
      // The UIDs of the index name nothing, or other messages, in a folder that was deleted or recreated.
      comparable = false;
      warn(
        `IMAP folder '${report.folder}' was ${again.exists ? 'recreated (its UIDVALIDITY changed)' : 'deleted'} during the check: its copies could not be compared; run verify again.`,
      );
    };
    const fetchHashes = async (uids: readonly number[], asBinary: boolean, table: Map<number, Hashes>): Promise<void> => {
      let left = [...new Set(uids)];
      let failures = 0;
      while (left.length > 0 && comparable) {
        const before = table.size;
        try {
          await target!.fetchBodies(folder, left, asBinary, (uid, content) => table.set(uid, hashes(content)));
          return;
        } catch (err) {
          // A session that delivered something before it dropped may be given more tries than one that fails at once.
          failures = table.size > before ? 1 : failures + 1;
          if (!isTransient(err) || failures > FETCH_RECONNECTS) throw err;
          left = left.filter((uid) => !table.has(uid));
          await reconnect();
        }
      }
    };
    await fetchHashes(
      plain.flatMap((p) => p.copies.map((c) => c.uid)),
      false,
      bodyHashes,
    );
    await fetchHashes(
      withNul.flatMap((p) => p.copies.map((c) => c.uid)),
      true,
      binaryHashes,
    );
    for (const p of pending) {
      const table = useBinary(p) ? binaryHashes : bodyHashes;
      const fetched = p.copies.flatMap((c) => {
        const h = table.get(c.uid);
        return h ? [{ uid: c.uid, ...h }] : [];
      });
      const described: Described = { uidl: p.uidl, number: p.number, subject: p.subject, date: p.date };
      const base = { problem: 'altered' as const, ...described, size: p.size, key: p.key, copies: p.copies };
      if (fetched.some((f) => f.sha === p.sha)) {
        report.present++;
        continue;
      }
      const folded = fetched.find((f) => f.foldedSha === p.foldedSha);
      if (folded) {
        report.present++;
        report.notes.push({
          note: 'cr-folded',
          ...described,
          uid: folded.uid,
          detail: `Equal to UID ${folded.uid} once runs of CRs before LF are folded: the server rewrote them when it stored the message.`,
        });
      } else if (fetched.some((f) => f.tolerant === p.tolerant)) {
        const changed = fetched.find((f) => f.tolerant === p.tolerant)!;
        report.present++;
        report.notes.push({
          note: 'server-changed',
          ...described,
          uid: changed.uid,
          detail: `Equal to UID ${changed.uid} once the changes servers make on storage are undone (line ends, 8-bit header bytes made X, X-IMAPbase/X-UID/X-UIDL/Status fields).`,
        });
      } else if (p.nul && !useBinary(p) && fetched.length > 0) {
        report.present++;
        report.notes.push({
          note: 'not-compared',
          ...described,
          uid: fetched[0]!.uid,
          detail: binary
            ? 'Not compared: it contains NUL bytes, which only FETCH BINARY returns, and base64 or quoted-printable parts, which FETCH BINARY returns decoded.'
            : 'Not compared: it contains NUL bytes, which the server can return only with FETCH BINARY, and it does not offer BINARY.',
        });
      } else if (fetched.length === 0) {
        problem({ ...base, problem: 'missing' }, `Its copy (${listCopies(p.copies)}) was removed from the folder during the check.`);
      } else if (p.key.startsWith('fb:')) {
        problem(
          { ...base, problem: 'missing' },
          `No message in the folder has its content; ${listCopies(p.copies)} ${p.copies.length > 1 ? 'have' : 'has'} its Date, From, To, Cc and Subject but other bytes.`,
        );
      } else if (!p.copies.some((c) => c.size === p.size)) {
        problem(
          { ...base, problem: 'size-differs' },
          `The folder holds its key (${p.key}) only with another size (${listCopies(p.copies)}), not with its ${p.size} octets, and no such copy is the message: that may be another message with the same Message-ID.`,
        );
      } else {
        problem(
          base,
          `Same key and size as ${fetched.map((f) => `UID ${f.uid}`).join(', ')}, but different bytes (SHA-256 ${p.sha.slice(0, 16)}… on POP3, ${fetched[0]!.sha.slice(0, 16)}… on IMAP).`,
        );
      }
    }
  }
}
