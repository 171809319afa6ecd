/**
 * One shape for every real server the harness can start privately (Dovecot,
 * Cyrus, Courier, GNU Mailutils, popa3d), and the plumbing they share: a
 * temp dir whose name the global teardown recognises, loopback ports, a
 * child process that dies with the test worker.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, chmodSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HARNESS_RUN_ENV } from './dovecot.js';

export type ServerName = 'dovecot' | 'cyrus' | 'courier' | 'mailutils' | 'popa3d' | 'solid-pop3d' | 'hoodiecrow' | 'wildduck';

export interface Endpoint {
  host: '127.0.0.1';
  /** Plain port (STARTTLS/STLS when the server offers TLS). */
  port: number;
  /** Implicit-TLS port, when the server has one. */
  tlsPort?: number;
}

export interface MailUser {
  /** The name the test chose. */
  name: string;
  /** What the user logs in with (Mailutils wants user@domain). */
  login: string;
  password: string;
}

export interface MailServer {
  readonly name: ServerName;
  /** Product and version, for test titles and reports. */
  readonly product: string;
  readonly dir: string;
  readonly imap?: Endpoint;
  readonly pop3?: Endpoint;
  /** CA for the TLS ports, when the server has TLS. */
  readonly certPath?: string;
  /** Milliseconds from spawn to every port answering. */
  readonly startMs: number;
  addUser(name: string, password?: string): MailUser | Promise<MailUser>;
  /** Puts raw messages into the user's INBOX, in order, the way the server's own delivery path would. */
  deliver(user: MailUser, messages: Buffer[]): void | Promise<void>;
  stop(): Promise<void>;
}

/** Where .ci/install-servers unpacks the packages that conflict with Dovecot's. */
export function serversRoot(): string {
  return process.env.POPLIFT_SERVERS_ROOT ?? join(homedir(), '.cache', 'poplift-servers');
}

export const INSTALL_HINT = 'run .ci/install-servers as root';

/** Returns why a server cannot start here (binaries absent), or undefined. */
export function missingFiles(server: string, files: string[]): string | undefined {
  const absent = files.filter((f) => !existsSync(f));
  return absent.length ? `${server} is not installed (${absent.join(', ')} absent): ${INSTALL_HINT}` : undefined;
}

/**
 * A private directory for one server. Its name carries `poplift-<server>-<run>-`
 * and every process of the server has it on its command line, which is how the
 * global teardown finds what a crashed worker left behind.
 */
export function harnessDir(server: ServerName): string {
  const dir = mkdtempSync(join(tmpdir(), `poplift-${server}-${process.env[HARNESS_RUN_ENV] ?? 'solo'}-`));
  // Servers drop privileges and must still traverse to their homes and configs.
  chmodSync(dir, 0o755);
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Resolves once the port accepts a connection and sends a greeting line. */
export function waitForGreeting(port: number, deadline: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = connect(port, '127.0.0.1');
      let greeted = false;
      sock.setTimeout(2_000);
      sock.once('data', () => {
        greeted = true;
        sock.destroy();
        resolve();
      });
      const retry = () => {
        sock.destroy();
        if (greeted) return;
        if (Date.now() > deadline) reject(new Error(`${what} did not answer on port ${port} in time`));
        else setTimeout(attempt, 50);
      };
      sock.once('error', retry);
      sock.once('timeout', retry);
      sock.once('close', retry);
    };
    attempt();
  });
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface Supervised {
  child: ChildProcess;
  output: () => string;
  exited: () => boolean;
  /** Rejects when the process exits before `ready` settles. */
  startup<T>(ready: Promise<T>, what: string): Promise<T>;
  /** SIGTERM (or `signal`), then SIGKILL after 5 s. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs `script` with bash in a private mount and PID namespace, supervised:
 * for servers with compiled-in paths, which the script binds the test's own
 * files over (`unshare` is the unshare binary).
 */
export function superviseIsolated(unshare: string, script: string): Supervised {
  return supervise(unshare, ['--mount', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', 'bash', script]);
}

/** Spawns a server process that is killed with the worker, collecting its output for error messages. */
export function supervise(command: string, args: string[], options: SpawnOptions = {}): Supervised {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    }),
  );
  return {
    child,
    output: () => output,
    exited: () => exited,
    async startup(ready, what) {
      try {
        return await Promise.race([
          ready,
          gone.then(() => {
            throw new Error(`${what} exited at start: ${output}`);
          }),
        ]);
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      }
    },
    async stop(signal = 'SIGTERM') {
      if (exited) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function systemIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`system user '${name}' is missing: ${INSTALL_HINT}`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * mbox as the Mailutils and popa3d readers expect it: a From_ line, LF line
 * ends, mboxrd quoting (one more '>' before every /^>*From /), and an empty
 * line between messages. Bare CRs stay.
 */
export function toMbox(messages: Buffer[], envelopeFrom = 'MAILER-DAEMON', date = 'Mon Jun 30 09:00:00 2003'): Buffer {
  const parts: Buffer[] = [];
  for (const raw of messages) {
    const text = raw.toString('latin1').replace(/\r\n/g, '\n');
    const quoted = text.replace(/(^|\n)(>*From )/g, '$1>$2');
    parts.push(Buffer.from(`From ${envelopeFrom} ${date}\n${quoted}${quoted.endsWith('\n') ? '' : '\n'}\n`, 'latin1'));
  }
  return Buffer.concat(parts);
}
