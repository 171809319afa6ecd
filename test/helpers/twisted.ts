/**
 * Twisted's IMAP4 server (Debian's python3-twisted) on loopback, with the
 * small in-memory mailbox of twisted-imap.py: one user, folders created on
 * demand. Only IMAP: Twisted's POP3 server is not used here.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, supervise, waitForGreeting, type Supervised } from './mail-server.js';

/** Debian's python3 (a python3 earlier on PATH may not see Debian's packages). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./twisted-imap.py', import.meta.url));

export function twistedMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import twisted.mail.imap4'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'Twisted is not installed (apt-get install python3-twisted)';
  }
}

export interface TwistedImap {
  port: number;
  user: string;
  password: string;
  /** What the server printed (Twisted logs unhandled errors to stderr). */
  output: () => string;
  stop: () => Promise<void>;
}

export async function startTwistedImap(user = 'tw', password = 'pw-tw'): Promise<TwistedImap> {
  const missing = twistedMissing();
  if (missing) throw new Error(missing);
  const port = await freePort();
  const server: Supervised = supervise(PYTHON, [SCRIPT, String(port), user, password]);
  await server.startup(waitForGreeting(port, Date.now() + 15_000, 'Twisted IMAP4'), 'Twisted IMAP4 server');
  return { port, user, password, output: server.output, stop: () => server.stop() };
}
