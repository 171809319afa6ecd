/**
 * The folder commands of the control connection that imapflow does not
 * offer as poplift needs them: STATUS without a LIST after a NO, CREATE
 * without a SUBSCRIBE to wait for, and LIST of one exact name. Sent raw
 * through imapflow-adapter.ts.
 */
import type { ImapFlow } from 'imapflow';
import type { PopliftError } from '../errors.js';
import type { FolderInfo } from '../store/mail-store.js';
import { execRaw, type CommandToken } from './imapflow-adapter.js';
import { encodeModifiedUtf7 } from './mailbox-name.js';

/** What the commands need of the control connection. */
export interface FolderContext {
  client: ImapFlow;
  /** One exchange under its deadline; `verb` names the command in the error. */
  within: <T>(verb: string, work: Promise<T>) => Promise<T>;
  /** The error a failed step ends with. */
  fail: (what: string, err: unknown) => PopliftError;
}

/** A mailbox name as a command argument: a string once it holds '&' (modified UTF-7), else an atom. */
function mailboxToken(encoded: string): CommandToken {
  return { type: encoded.includes('&') ? 'STRING' : 'ATOM', value: encoded };
}

/**
 * STATUS (UIDVALIDITY) of a folder, or false when the server says NO (it
 * does not exist). imapflow's status() follows a NO with a LIST to tell a
 * missing folder from other refusals, a round trip that tells poplift
 * nothing more: it creates the folder, or reports the refusal then.
 * A BAD is the answer of some servers for a folder that does not exist
 * (hoodiecrow: `BAD Invalid mailbox name`): then the folder is missing
 * unless LIST names it, and CREATE's own answer decides what follows.
 */
export async function folderStatus(
  ctx: FolderContext,
  path: string,
): Promise<{ uidValidity: bigint | undefined; seen: FolderInfo['seen'] } | false> {
  const encoded = encodeModifiedUtf7(path);
  let uidValidity: bigint | undefined;
  // MESSAGES and UIDNEXT ride along: with the journal's record they tell whether anything was expunged since.
  const counts: { MESSAGES?: number; UIDNEXT?: number } = {};
  const items: CommandToken = ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY'].map((value) => ({ type: 'ATOM', value }));
  try {
    await ctx.within(
      'STATUS',
      execRaw(ctx.client, 'STATUS', [mailboxToken(encoded), items], {
        STATUS: (untagged) => {
          const list = untagged.attributes?.[1];
          if (!Array.isArray(list)) return;
          for (let i = 0; i + 1 < list.length; i += 2) {
            const key = (list[i] as { value?: unknown } | null | undefined)?.value;
            const value = (list[i + 1] as { value?: unknown } | null | undefined)?.value;
            if (typeof key !== 'string' || typeof value !== 'string' || !/^\d+$/.test(value)) continue;
            const name = key.toUpperCase();
            if (name === 'UIDVALIDITY') uidValidity = BigInt(value);
            else if (name === 'MESSAGES' || name === 'UIDNEXT') counts[name] = Number(value);
          }
        },
      }),
    );
    const seen =
      counts.MESSAGES !== undefined && counts.UIDNEXT !== undefined ? { messages: counts.MESSAGES, uidNext: counts.UIDNEXT } : undefined;
    return { uidValidity, seen };
  } catch (err) {
    const answer = (err as { responseStatus?: string } | null | undefined)?.responseStatus;
    if (answer === 'NO') return false;
    if (answer === 'BAD' && ctx.client.usable && !(await listed(ctx, encoded).catch(() => true))) return false;
    // A STATUS that failed because the connection did is not a missing folder.
    throw ctx.fail(`looking up folder '${path}'`, err);
  }
}

/** Whether LIST names exactly this folder (its wire name). */
async function listed(ctx: FolderContext, encoded: string): Promise<boolean> {
  let found = false;
  await ctx.within(
    'LIST',
    execRaw(
      ctx.client,
      'LIST',
      [
        { type: 'STRING', value: '' },
        { type: 'STRING', value: encoded },
      ],
      {
        LIST: (untagged) => {
          const name = (untagged.attributes?.[2] as { value?: unknown } | null | undefined)?.value;
          if (typeof name === 'string' && (name === encoded || (encoded.toUpperCase() === 'INBOX' && name.toUpperCase() === 'INBOX')))
            found = true;
        },
      },
    ),
  );
  return found;
}

/**
 * CREATE alone: imapflow's mailboxCreate also waits for a SUBSCRIBE. A
 * folder that exists already ([ALREADYEXISTS], RFC 5530, or found by a
 * STATUS after a NO) is as good.
 */
export async function createFolder(ctx: FolderContext, path: string): Promise<void> {
  try {
    await ctx.within('CREATE', execRaw(ctx.client, 'CREATE', [mailboxToken(encodeModifiedUtf7(path))]));
  } catch (err) {
    const e = err as { serverResponseCode?: string; responseStatus?: string } | null | undefined;
    if (e?.serverResponseCode === 'ALREADYEXISTS') return;
    // Another client (a run on another machine) may have created it since the STATUS that found it
    // missing; Dovecot's NO then says so only in its text. A folder that exists now is as good.
    if (e?.responseStatus === 'NO' && (await folderStatus(ctx, path).catch(() => false as const)) !== false) return;
    throw err;
  }
}
