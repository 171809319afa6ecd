/**
 * `poplift demo`: poplift at work without a mail account of one's own. It
 * starts a private Dovecot on loopback (demo-dovecot.ts) with an "old"
 * mailbox of sample mail and an empty "new" one, then runs poplift itself,
 * as a child process with the terminal it was given (so the progress bar
 * shows): a migration, a re-run after a few more messages arrived, and
 * verify. The server and its directory go away however the demo ends
 * (Ctrl-C included). Changes nothing outside its temporary directory.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ExitCode, signalExitCode } from '../errors.js';
import type { CliIo } from './cli-io.js';
import { DOVECOT_PACKAGES, dovecotMissing, startDemoDovecot, type DemoDovecot, type DemoUser } from './demo-dovecot.js';

const FOLDER = 'Archive/Old ISP';
const FIRST = 400;
const LATER = 5;

/** A sample message: plain text, some with an attachment, flags in Status/X-Status, a few without Message-ID, 8-bit Latin-1. */
export function sampleMessage(i: number): Buffer {
  const id = createHash('sha256').update(String(i)).digest('hex').slice(0, 12);
  const day = String(1 + (i % 28)).padStart(2, '0');
  const headers = [
    `From: ${['Bob Example <bob@old.example>', 'Carol <carol@old.example>', 'newsletter@shop.example'][i % 3]}`,
    'To: Alice <alice@old.example>',
    `Subject: ${i % 7 === 0 ? 'Caf\xe9 receipt' : 'Sample message'} ${i}`,
    `Date: Mon, ${day} Jun 2020 10:${String(i % 60).padStart(2, '0')}:00 +0000`,
    ...(i % 25 === 0 ? [] : [`Message-ID: <${id}.${i}@old.example>`]),
    ...(i % 3 === 0 ? ['Status: RO'] : []),
    ...(i % 11 === 0 ? ['X-Status: F'] : []),
    'MIME-Version: 1.0',
  ];
  const text = `Hello Alice,\r\n\r\nthis is sample message ${i} of poplift's demo.\r\n${'The quick brown fox jumps over the lazy dog. '.repeat(20 + (i % 40))}\r\n`;
  let body: string;
  if (i % 10 === 0) {
    const attachment = Buffer.alloc(8_000 + (i % 5) * 6_000, i % 251).toString('base64');
    const lines = attachment.match(/.{1,76}/g)!.join('\r\n');
    headers.push('Content-Type: multipart/mixed; boundary="b"');
    body = `--b\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\n${text}--b\r\nContent-Type: application/octet-stream; name="data-${i}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${lines}\r\n--b--\r\n`;
  } else {
    headers.push('Content-Type: text/plain; charset=ISO-8859-1');
    body = text;
  }
  return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

/** How to start poplift itself again: the same Node and script, or the single-file executable alone. */
function selfCommand(): { file: string; args: string[] } {
  const sea = (process.getBuiltinModule('node:sea') as { isSea?: () => boolean } | undefined)?.isSea?.() ?? false;
  return sea ? { file: process.execPath, args: [] } : { file: process.execPath, args: [process.argv[1]!] };
}

/** The environment of the child runs: the caller's, without POPLIFT_* settings (they would change the demo), with the demo's passwords. */
function childEnv(env: NodeJS.ProcessEnv, passwords: { pop3: string; imap: string }): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('POPLIFT_')) clean[k] = v;
  return { ...clean, POPLIFT_POP3_PASSWORD: passwords.pop3, POPLIFT_IMAP_PASSWORD: passwords.imap };
}

/** `dovecotRoots`: where to look for Dovecot (tests point it at a machine without). */
export async function runDemo(io: CliIo, dovecotRoots?: readonly string[]): Promise<number> {
  const say = (line: string) => io.stderr.write(`poplift demo: ${line}\n`);
  const missing = dovecotMissing(dovecotRoots);
  if (missing) {
    say(`${missing}, and the demo runs its private mail servers on it: ${DOVECOT_PACKAGES}`);
    return ExitCode.USAGE;
  }

  let stopping: NodeJS.Signals | undefined;
  let running: ReturnType<typeof spawn> | undefined;
  // Ctrl-C reaches the running poplift too (same process group); SIGTERM and SIGHUP (the terminal closed)
  // may come to this process alone. Unhandled, they would end it without the cleanup below.
  const onSignal = (sig: NodeJS.Signals) => {
    stopping ??= sig === 'SIGHUP' ? 'SIGTERM' : sig;
    if (sig !== 'SIGINT') running?.kill('SIGTERM');
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, onSignal);

  let dovecot: DemoDovecot | undefined;
  try {
    say('a demonstration on private servers; nothing outside its temporary directory is touched.');
    dovecot = await startDemoDovecot();
    say(`started a private Dovecot (POP3 127.0.0.1:${dovecot.ports.pop3}, IMAP 127.0.0.1:${dovecot.ports.imap}) in ${dovecot.dir}`);
    const old: DemoUser = dovecot.addUser('alice', 'demo-old-password');
    const fresh: DemoUser = dovecot.addUser('alice.new', 'demo-new-password');
    for (let i = 1; i <= FIRST; i++) dovecot.deliver(old, sampleMessage(i));
    say(`the "old ISP" mailbox alice holds ${FIRST} sample messages; the "new host" mailbox alice.new is empty`);

    const pop3 = `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`;
    const imap = `imap://alice.new@127.0.0.1:${dovecot.ports.imap}`;
    const state = `${dovecot.dir}/state-poplift`;
    const env = childEnv(io.env, { pop3: old.password, imap: fresh.password });
    const self = selfCommand();
    const step = async (title: string, args: string[]): Promise<number> => {
      if (stopping) return signalExitCode(stopping);
      io.stderr.write('\n');
      say(title);
      io.stderr.write(`$ poplift ${args.map((a) => (/^[\w@:/.=-]+$/.test(a) ? a : `"${a}"`)).join(' ')}\n`);
      const child = spawn(self.file, [...self.args, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
      running = child;
      const code = await new Promise<number>((resolve) => {
        child.once('error', () => resolve(ExitCode.PARTIAL));
        child.once('exit', (c, signal) => resolve(c ?? (signal ? signalExitCode(signal) : ExitCode.PARTIAL)));
      });
      running = undefined;
      return code;
    };
    const common = ['--folder', FOLDER, '--state-dir', state];
    const steps: Array<[string, () => void, string[]]> = [
      ['1/3 migrate: every message of the POP3 mailbox into an IMAP folder', () => undefined, ['migrate', pop3, imap, ...common]],
      [
        `2/3 run again, after ${LATER} more messages arrived: only those are read, nothing is doubled`,
        () => {
          for (let i = FIRST + 1; i <= FIRST + LATER; i++) dovecot!.deliver(old, sampleMessage(i));
        },
        ['migrate', pop3, imap, ...common],
      ],
      ['3/3 verify: prove every message is in the folder, changing nothing', () => undefined, ['verify', pop3, imap, ...common]],
    ];
    for (const [title, before, args] of steps) {
      before();
      const code = await step(title, args);
      if (stopping) return signalExitCode(stopping);
      if (code !== 0) {
        say(`that step ended with exit code ${code}; the demo stops here.`);
        return ExitCode.PARTIAL;
      }
    }
    io.stderr.write('\n');
    say('done: migrated, re-run without duplicates, verified.');
    say('for your own mailbox: poplift migrate pop3s://USER@pop.example imaps://USER@imap.example --folder "Archive/Old ISP"');
    return ExitCode.OK;
  } catch (err) {
    say(`could not run: ${err instanceof Error ? err.message : String(err)}`);
    return stopping ? signalExitCode(stopping) : ExitCode.PARTIAL;
  } finally {
    if (dovecot) {
      await dovecot.stop();
      say('stopped the private Dovecot and removed its directory.');
    }
    for (const sig of signals) process.off(sig, onSignal);
  }
}
