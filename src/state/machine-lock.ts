/**
 * The machine-wide half of a mailbox's lock. The lock files live in the
 * state directory, so two runs with different state directories (a cron job
 * under one user or HOME, a manual run under another) never see each
 * other's and both upload everything. An abstract Unix socket named after
 * the mailbox (not a file: no directory, owner or permission decides who
 * sees it) is one name for every process of this machine's network
 * namespace, and the kernel frees it when its holder ends, however it ends.
 *
 * Its holder answers whoever connects with its PID, start and lock file,
 * so a run that finds the mailbox busy names the holder as the file lock
 * does. Only Linux has abstract sockets; elsewhere the file lock alone
 * keeps runs apart.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { PopliftError } from '../errors.js';
import { lockedError, processStartTime, type LockInfo } from './lock.js';

/** sun_path's 108 bytes less the leading NUL of an abstract name. */
const SUN_PATH_NAME = 107;

/** How long a holder has to say who it is; a live poplift answers at once. */
const ASK_MS = 3000;

/** What a holder tells another run (never the mailbox: any local user may ask). */
interface HolderInfo {
  pid: number;
  pidStart?: string;
  host: string;
  started: string;
  /** The holder's lock file, once it has one. */
  lockFile?: string;
}

function listen(server: Server, path: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ path, exclusive: true }, () => resolve(undefined));
  });
}

/** Only printable text of bounded length: the answer comes from whatever process holds the name. */
function printable(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?').slice(0, max);
}

function readHolder(text: string): HolderInfo | undefined {
  try {
    const v = JSON.parse(text) as Record<string, unknown> | null;
    if (v === null || typeof v !== 'object' || typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid)) return undefined;
    return {
      pid: v.pid,
      host: printable(v.host, 255) ?? '?',
      started: printable(v.started, 40) ?? '?',
      lockFile: printable(v.lockFile, 4096),
    };
  } catch {
    return undefined;
  }
}

/** The holder's answer, 'gone' when nobody listens any more, or undefined when it does not say. */
function askHolder(path: string): Promise<HolderInfo | 'gone' | undefined> {
  return new Promise((resolve) => {
    let text = '';
    let socket: Socket | undefined = undefined;
    const done = (v: HolderInfo | 'gone' | undefined) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), ASK_MS);
    socket = createConnection({ path });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
      if (text.length > 8192) done(undefined);
    });
    socket.on('end', () => done(readHolder(text)));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'gone' : undefined));
  });
}

export class MachineLock {
  private constructor(
    private readonly server: Server | undefined,
    private readonly info: HolderInfo,
  ) {}

  /**
   * The abstract socket's name for a lock stem (lockStem of the mailbox's
   * identity), filled to the whole sun_path (107 bytes after the NUL): some
   * Node versions (20) bind an abstract name padded with NULs to that length
   * and others (22, 24) the name alone, which are two names to the kernel;
   * a name of full length is the same name to both.
   */
  static socketName(stem: string): string {
    return `\0${`poplift-lock-${stem}-`.padEnd(SUN_PATH_NAME, '-')}`;
  }

  /**
   * Takes the mailbox `stem` names on this machine, or throws exit 5 naming
   * the run that holds it (whatever its user or state directory).
   */
  static async acquire(stem: string, mailbox: string): Promise<MachineLock> {
    const info: HolderInfo = {
      pid: process.pid,
      pidStart: processStartTime(process.pid),
      host: hostname(),
      started: new Date().toISOString(),
    };
    if (process.platform !== 'linux') return new MachineLock(undefined, info);
    const path = MachineLock.socketName(stem);
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = createServer((socket) => {
        socket.on('error', () => undefined);
        socket.end(`${JSON.stringify(info)}\n`);
      });
      const err = await listen(server, path);
      if (err === undefined) {
        // The lock must not keep a finished run alive.
        server.unref();
        return new MachineLock(server, info);
      }
      server.close();
      if (err.code !== 'EADDRINUSE') {
        throw new PopliftError(`Cannot take the machine-wide lock for ${mailbox} (${err.code ?? err.message}); run poplift again.`, {
          code: 'LOCKED',
          cause: err,
        });
      }
      const holder = await askHolder(path);
      // Its holder ended between the two calls: try again.
      if (holder === 'gone') continue;
      if (holder === undefined) {
        throw new PopliftError(
          `Another process holds the machine-wide lock for ${mailbox} and does not say which run it is; wait for it to finish.`,
          { code: 'LOCKED' },
        );
      }
      const asClaim: LockInfo = { pid: holder.pid, host: holder.host, started: holder.started, mailbox };
      throw lockedError(mailbox, asClaim, holder.lockFile ?? 'in another state directory');
    }
    throw new PopliftError(`Could not take the machine-wide lock for ${mailbox}; other runs keep claiming it. Run poplift again.`, {
      code: 'LOCKED',
    });
  }

  /** The lock file this run holds too, for what it tells another run. */
  holds(lockFile: string): void {
    this.info.lockFile = lockFile;
  }

  release(): void {
    this.server?.close();
  }
}
