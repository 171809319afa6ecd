/**
 * The one place poplift reaches past imapflow's public API. imapflow is
 * pinned at one version (package.json); what is used of its insides is
 * checked when a client is made (`adaptImapFlow`), so an imapflow whose
 * insides changed shape fails at once, naming what is missing, instead of
 * silently losing a saving or a deadline.
 *
 * What is read or overridden, each tested in test/unit/imapflow-adapter.test.ts:
 * 1. `socket.bytesRead`: the bytes received so far, so the deadline of an
 *    exchange grows with what the server sends (withinDeadline).
 * 2. `run`, replaced for ID: imapflow sends ID before and, when the answer
 *    is short, again after login, with its own vendor and support address:
 *    two round trips. poplift identifies itself once, on the upload
 *    connection, where nothing waits for the answer.
 * 3. `run('CLOSE', { unselect: true })`: UNSELECT (RFC 3691) where offered;
 *    the public mailboxClose() always sends CLOSE.
 * 4. `exec`: one raw command (STATUS, LIST, CREATE) with poplift's own
 *    handlers for its untagged answers. status() follows a NO with a LIST,
 *    and mailboxCreate() waits for a SUBSCRIBE: round trips poplift does
 *    not need.
 * 5. `folders`: what imapflow would otherwise LIST before a SELECT (the
 *    folder exists, and its delimiter), told when poplift already knows it.
 */
import type { ImapFlow } from 'imapflow';
import { exchangeDeadlineMs } from './imap-connection.js';

/** An untagged response as imapflow's parser hands it to an `exec` handler: its attributes as tokens. */
export interface UntaggedTokens {
  attributes?: unknown[];
}

export type UntaggedTokenHandler = (untagged: UntaggedTokens) => void;

/** A command argument as imapflow's compiler takes it. */
export type CommandToken = { type: 'ATOM' | 'STRING'; value: string } | CommandToken[];

/** imapflow's insides that poplift uses, as imapflow 2.10.2 has them. */
interface Internals {
  run: (command: string, ...args: unknown[]) => Promise<unknown>;
  exec: (
    command: string,
    attributes: CommandToken[],
    options?: { untagged?: Record<string, (untagged: UntaggedTokens) => Promise<void>> },
  ) => Promise<{ next?: unknown }>;
  commands: Map<string, unknown>;
  folders: Map<string, unknown>;
  socket: { bytesRead?: unknown } | false | null | undefined;
}

/** imapflow does not have an internal the adapter relies on: the installed imapflow is not the one poplift was built for. */
export class ImapFlowInternalsError extends Error {
  constructor(what: string) {
    super(
      `imapflow has changed: ${what}, which src/imap/imapflow-adapter.ts relies on. Install the imapflow version package.json names, or adapt that file to the new one.`,
    );
    this.name = 'ImapFlowInternalsError';
  }
}

function inside(client: ImapFlow): Internals {
  return client as unknown as Internals;
}

/** The client's insides, after checking they have the shape the adapter relies on. */
function checked(client: ImapFlow): Internals {
  const flow = inside(client) as Partial<Record<keyof Internals, unknown>>;
  if (typeof flow.run !== 'function') throw new ImapFlowInternalsError('its client has no run() method');
  if (typeof flow.exec !== 'function') throw new ImapFlowInternalsError('its client has no exec() method');
  if (!(flow.commands instanceof Map) || !flow.commands.has('CLOSE') || !flow.commands.has('ID')) {
    throw new ImapFlowInternalsError('its client has no command table (commands, a Map with CLOSE and ID)');
  }
  if (!(flow.folders instanceof Map)) throw new ImapFlowInternalsError('its client keeps no folders Map');
  if (!('socket' in flow)) throw new ImapFlowInternalsError('its client has no socket property');
  const socket = flow.socket;
  if (socket !== false && socket !== null && socket !== undefined && typeof (socket as { bytesRead?: unknown }).bytesRead !== 'number') {
    throw new ImapFlowInternalsError('its socket has no bytesRead count');
  }
  return flow as Internals;
}

/**
 * Checks a new client's insides and makes it send no ID (override 2).
 * Called right after `new ImapFlow()`, before it connects.
 */
export function adaptImapFlow(client: ImapFlow): void {
  const flow = checked(client);
  const run = flow.run.bind(client);
  flow.run = (command: string, ...args: unknown[]) => (command.toUpperCase() === 'ID' ? Promise.resolve(undefined) : run(command, ...args));
}

/** Bytes received on the connection so far; undefined before it has a socket (override 1). */
export function bytesRead(client: ImapFlow): number | undefined {
  const socket = checked(client).socket;
  return socket ? (socket.bytesRead as number) : undefined;
}

/** Leaves the selected folder with UNSELECT, or CLOSE where the server lacks it (override 3). */
export function unselect(client: ImapFlow): Promise<unknown> {
  return checked(client).run('CLOSE', { unselect: true });
}

/**
 * Sends one command and runs `untagged` on each untagged answer named in
 * it; resolves once the tagged OK came, rejects as imapflow does for NO,
 * BAD or a lost connection (override 4).
 */
export async function execRaw(
  client: ImapFlow,
  command: string,
  attributes: CommandToken[],
  untagged: Record<string, UntaggedTokenHandler> = {},
): Promise<void> {
  const handlers = Object.fromEntries(
    Object.entries(untagged).map(([name, handle]) => [
      name,
      (response: UntaggedTokens) => {
        handle(response);
        return Promise.resolve();
      },
    ]),
  );
  const response = await checked(client).exec(command, attributes, { untagged: handlers });
  // exec() holds the client's queue until next() is called.
  if (typeof response.next !== 'function') throw new ImapFlowInternalsError('exec() no longer answers with a next() to release its queue');
  (response.next as () => void)();
}

/**
 * Tells imapflow what it would otherwise LIST before a SELECT: the folder
 * exists (it was just created, or STATUS answered for it) and its delimiter
 * (override 5).
 */
export function knowFolder(client: ImapFlow, path: string, delimiter: string): void {
  const folders = checked(client).folders;
  if (!folders.has(path))
    folders.set(path, { path, delimiter, flags: new Set<string>(), specialUse: false, listed: true, subscribed: true });
}

/**
 * Runs one exchange with imapflow under a deadline: imapflow's socket
 * timeout is an idle timer, which a server sending a byte now and then
 * ("* OK still here") re-arms for ever. The deadline is
 * exchangeDeadlineMs() of the octets the server sent meanwhile, so a
 * FETCH of large messages gets the time it needs at the slowest rate
 * allowed and a trickle gets none. When it passes, `expired` gives the
 * error and the connection is closed.
 */
export function withinDeadline<T>(client: ImapFlow, timeoutMs: number, work: Promise<T>, expired: (ms: number) => Error): Promise<T> {
  const startBytes = bytesRead(client) ?? 0;
  const started = performance.now();
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const check = (): void => {
      let allowed: number;
      try {
        allowed = exchangeDeadlineMs(timeoutMs, Math.max(0, (bytesRead(client) ?? startBytes) - startBytes));
      } catch (err) {
        // An ImapFlowInternalsError in a timer would end the process: it ends the exchange instead.
        done = true;
        reject(err instanceof Error ? err : new Error(String(err)));
        client.close();
        return;
      }
      const left = allowed - (performance.now() - started);
      if (left > 0) {
        timer = setTimeout(check, left);
        return;
      }
      done = true;
      reject(expired(allowed));
      client.close();
    };
    timer = setTimeout(check, exchangeDeadlineMs(timeoutMs));
    work.then(
      (value) => {
        clearTimeout(timer);
        if (!done) resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!done) reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
