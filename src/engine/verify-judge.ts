/**
 * Judging held messages for a folder's check: their candidate copies are
 * fetched (one at a time, over a new session when one drops), each judged by
 * the copy rule, and every message reported as its best copy did.
 */
import { copyDigests, judgeCopy, movedLinesDigest, serverChanges, SERVER_CHANGES } from '../message/copy-rule.js';
import type { IndexedMessage } from '../store/mail-store.js';
import { describeChanges, type ServerChange } from './verify-report.js';
import type { Described, Pending, VerifyRun } from './verify-run.js';

/** The server changes a message and its copy differ by, in SERVER_CHANGES order. */
function changesBetween(original: Buffer, copy: Buffer): ServerChange[] {
  const names = serverChanges(original, copy) ?? [];
  return (Object.keys(SERVER_CHANGES) as ServerChange[]).filter((id) => names.includes(SERVER_CHANGES[id]));
}

function listCopies(copies: readonly IndexedMessage[]): string {
  const shown = copies.slice(0, 3).map((c) => `UID ${c.uid}, ${c.size} octets`);
  if (copies.length > 3) shown.push(`${copies.length - 3} more`);
  return shown.join('; ');
}

/** Judges one fetched copy for each message of `waiting` it is a candidate for; keeps each message's best verdict. */
function judgeOne(waiting: readonly Pending[], uid: number, content: Buffer): void {
  const digests = copyDigests(content);
  let moved: string | undefined;
  for (const p of waiting) {
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
}

/** Fetches the candidate copies of `batch` one at a time, judges each by the copy rule and reports every message. */
export async function judgeBatch(run: VerifyRun, batch: Pending[]): Promise<void> {
  const binary = run.destination!.readsBinary;
  const useBinary = (p: Pending) => p.nul && p.binarySafe && binary;
  for (const asBinary of [false, true]) {
    const group = batch.filter((p) => useBinary(p) === asBinary);
    const waiting = new Map<number, Pending[]>();
    for (const p of group) for (const c of p.copies) waiting.set(c.uid, [...(waiting.get(c.uid) ?? []), p]);
    if (waiting.size === 0) continue;
    await run.fetchCopies([...waiting.keys()], asBinary, (uid, content) => {
      judgeOne(waiting.get(uid) ?? [], uid, content);
    });
  }
  for (const p of batch) conclude(run, p, useBinary(p));
}

/** Reports `p` as present, with a note when its copy was stored changed or its bytes could not be compared. */
function concludePresent(run: VerifyRun, p: Pending, viaBinary: boolean): boolean {
  const described: Described = { uidl: p.uidl, number: p.number, subject: p.subject, date: p.date };
  const judged = p.judged;
  if (judged?.verdict === 'identical') {
    run.report.present++;
  } else if (judged?.verdict === 'server-changed') {
    run.report.present++;
    run.report.notes.push({
      note: 'server-changed',
      ...described,
      uid: judged.uid,
      changes: judged.changes,
      detail: `Stored with the server's changes: equal to UID ${judged.uid} once they are undone (${describeChanges(judged.changes)}).`,
    });
  } else if (p.nul && !viaBinary && judged !== undefined) {
    run.report.present++;
    run.report.notes.push({
      note: 'not-compared',
      ...described,
      uid: judged.uid,
      changes: [],
      detail: run.destination!.readsBinary
        ? 'Not compared: it contains NUL bytes, which only FETCH BINARY returns, and base64 or quoted-printable parts, which FETCH BINARY returns decoded.'
        : 'Not compared: it contains NUL bytes, which the server can return only with FETCH BINARY, and it does not offer BINARY.',
    });
  } else {
    return false;
  }
  return true;
}

/** Reports `p` as its best copy was judged. */
function conclude(run: VerifyRun, p: Pending, viaBinary: boolean): void {
  if (concludePresent(run, p, viaBinary)) return;
  const described: Described = { uidl: p.uidl, number: p.number, subject: p.subject, date: p.date };
  const base = { problem: 'altered' as const, ...described, size: p.size, key: p.key, copies: p.copies };
  const judged = p.judged;
  if (p.rebuiltUid !== undefined) {
    run.problem(
      base,
      `Stored changed, not proven: its copy (UID ${p.rebuiltUid}) holds its lines in another order (a server that stores a message as MIME parts and rebuilds it, such as WildDuck, serves the text after the last part before the first). poplift neither uploads it again nor deletes it; look at the copy, and delete the message from POP3 yourself once it will do.`,
    );
  } else if (judged === undefined) {
    run.problem({ ...base, problem: 'missing' }, `Its copy (${listCopies(p.copies)}) was removed from the folder during the check.`);
  } else if (p.byHeadersOnly) {
    run.problem(
      { ...base, problem: 'missing' },
      `No message with its key (${p.key}) is in the folder; ${p.copies.length === 1 ? '1 with the same header fields is another message' : `${p.copies.length} with the same header fields are other messages`}.`,
    );
  } else if (!p.copies.some((c) => c.size === p.size)) {
    run.problem(
      { ...base, problem: 'size-differs' },
      `The folder holds its key (${p.key}) only with another size (${listCopies(p.copies)}), not with its ${p.size} octets, and no such copy is the message, even once the changes servers make on storage are undone: that may be another message with the same Message-ID.`,
    );
  } else if (judged.verdict === 'different') {
    run.problem(
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
