/**
 * A mailbox written by real mail software, not by our own code: mutt
 * composes every message (MIME, charsets, attachments taken from files on
 * this machine), and a private exim delivers it into a Maildir, adding its
 * Received, Message-ID, Return-path and friends; mail to unknown users comes
 * back as exim's own bounces. The Maildir is then handed to a harness user.
 */
import { spawn, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DovecotUser } from './dovecot.js';

export const REAL_MAIL_INSTALL_HINT = 'apt-get install exim4-daemon-light mutt';

export interface RealMailOptions {
  /** Messages to compose (default 2000). */
  messages?: number;
  /** mutt processes at once (default 4). */
  parallel?: number;
}

export interface RealMailbox {
  /** Messages delivered into the user's INBOX. */
  delivered: number;
  /** Of those, exim's bounces for unknown recipients. */
  bounces: number;
  /** Of those, messages with a few MB of attachments. */
  big: number;
}

const DOMAIN = 'poplift.test';

function findBinary(candidates: string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** Regular files (no symlinks) under dir, depth-first in name order, at most `limit`. */
function walk(dir: string, depth: number, out: string[], limit: number): void {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of entries) {
    if (out.length >= limit) return;
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory() && depth > 0) walk(p, depth - 1, out, limit);
    else if (st.isFile() && st.size > 0) out.push(p);
  }
}

function sizeOf(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}

const SENDERS = [
  'Zoë Müller <zoe@example.org>',
  'François Lefèvre <francois@example.fr>',
  'Jörg Groß <joerg@example.de>',
  '"Ana María Núñez" <ana@example.es>',
  'Dmitri Ivanov <dima@example.net>',
  '田中 太郎 <tanaka@example.jp>',
  'plain.sender@example.com',
];

const PHRASES = [
  'Grüße aus Köln, und schöne Grüße an die Familie.',
  'Voilà le café crème que tu voulais, à bientôt !',
  '¿Dónde está la señal? Mañana será otro día.',
  'Привет! Как дела? Всё хорошо.',
  '会議は明日の午後三時からです。よろしくお願いします。',
  'Smörgåsbord, fjord, naïve, coöperate, résumé.',
  'Plain ASCII line, nothing special about it.',
  'Ελληνικά: καλημέρα κόσμε.',
];

/**
 * Composes `messages` mails with mutt, delivers them with exim into a
 * private Maildir, and moves the result into the user's INBOX owned by the
 * Maildir's owner. Throws with the apt packages to install when mutt or exim
 * is missing. Must run as root (like the Dovecot harness).
 */
export async function buildRealMailbox(user: DovecotUser, options: RealMailOptions = {}): Promise<RealMailbox> {
  const exim = findBinary(['/usr/sbin/exim4', '/usr/sbin/exim']);
  const mutt = findBinary(['/usr/bin/mutt']);
  if (!exim || !mutt) throw new Error(`exim and mutt are needed to build a real-world mailbox: ${REAL_MAIL_INSTALL_HINT}`);
  const total = options.messages ?? 2000;
  const parallel = options.parallel ?? 4;

  const work = mkdtempSync(join(tmpdir(), 'poplift-realmail-'));
  try {
    chmodSync(work, 0o755);
    // exim drops root for a -C config and runs as its own user: that user owns spool, log and Maildir.
    const eximUser = execFileSync(exim, ['-bP', 'exim_user'], { encoding: 'utf8' })
      .replace(/^.*=\s*/, '')
      .trim();
    const pw = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${eximUser}:`));
    if (!pw) throw new Error(`exim user '${eximUser}' is missing: ${REAL_MAIL_INSTALL_HINT}`);
    const [, , uid, gid] = pw.split(':');
    const spool = join(work, 'spool');
    const log = join(work, 'log');
    const staging = join(work, 'Maildir');
    const home = join(work, 'home');
    const inputs = join(work, 'inputs');
    for (const d of [spool, log, staging, home, inputs]) mkdirSync(d);
    for (const d of [spool, log, staging]) chownSync(d, Number(uid), Number(gid));

    const eximConf = join(work, 'exim.conf');
    writeFileSync(
      eximConf,
      `primary_hostname = mx.${DOMAIN}
qualify_domain = ${DOMAIN}
exim_path = ${exim}
spool_directory = ${spool}
log_file_path = ${log}/%slog
keep_environment =
message_size_limit = 100M
begin routers
unknown:
  driver = redirect
  local_parts = ^nosuch
  allow_fail
  data = :fail: No such user here
mailbox:
  driver = accept
  transport = maildir
begin transports
maildir:
  driver = appendfile
  directory = ${staging}
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = ${eximUser}
  mode = 0644
`,
    );
    chmodSync(eximConf, 0o644);
    const muttrc = join(work, 'muttrc');
    writeFileSync(
      muttrc,
      `set sendmail="${exim} -C ${eximConf} -odi -oi"
set use_from=yes
set hostname=client.example.org
set charset="utf-8"
set send_charset="us-ascii:iso-8859-1:utf-8"
set record=""
set copy=no
set allow_8bit=yes
set use_envelope_from=no
`,
    );

    // Attachments: real files of this machine, small ones from the docs, a few MB-sized ones.
    const small: string[] = [];
    walk('/usr/share/common-licenses', 0, small, 50);
    walk('/usr/share/doc', 3, small, 3000);
    const attachments = small.filter((p) => sizeOf(p) <= 400_000);
    const bigCandidates = [exim, mutt, '/usr/share/doc/dovecot-core/changelog.gz', '/usr/sbin/dovecot', '/usr/lib/dovecot/libdovecot.so.0'];
    const bigFiles = [...new Set(bigCandidates.filter((p) => sizeOf(p) > 100_000))];
    const texts = attachments.filter((p) => !p.endsWith('.gz') && sizeOf(p) < 60_000);
    const bigBytes = bigFiles.slice(0, 3).reduce((n, p) => n + sizeOf(p), 0);
    if (attachments.length < 20 || texts.length < 5 || bigBytes < 1_600_000) {
      throw new Error(
        `too few files under /usr/share/doc (${attachments.length}) or MB-sized binaries (${bigBytes} bytes) to attach to messages`,
      );
    }

    interface Job {
      args: string[];
      stdin: string;
    }
    const jobs: Job[] = [];
    let bounces = 0;
    let big = 0;
    for (let i = 0; i < total; i++) {
      const from = SENDERS[i % SENDERS.length] as string;
      const phrase = PHRASES[(i * 7) % PHRASES.length] as string;
      const text = readFileSync(texts[(i * 13) % texts.length] as string, 'latin1')
        .split('\n')
        .slice((i * 3) % 40, ((i * 3) % 40) + 5 + (i % 60))
        .join('\n');
      const body = `Hallo,\n\n${phrase}\n\n${text}\n\n-- \n${from.replace(/<.*>/, '').replace(/"/g, '')}\n`;
      const subject = `${['Re: ', 'Fwd: ', '', 'AW: '][i % 4]}${phrase.slice(0, 30)} #${i}`;
      const base = ['-n', '-F', muttrc, '-e', `set from='${from.replace(/'/g, '')}'`];
      if (i % 40 === 11) {
        // exim's own bounce (a multipart/report from MAILER-DAEMON) comes back to the sender, which is alice.
        bounces++;
        jobs.push({ args: [...base, '-e', `set from='alice@${DOMAIN}'`, '-s', subject, '--', `nosuch${i}@${DOMAIN}`], stdin: body });
      } else if (i % 10 === 3) {
        // A reply: mutt reads a draft with threading headers.
        const draft = join(inputs, `draft-${i}`);
        const quoted = text
          .split('\n')
          .map((l) => `> ${l}`)
          .join('\n');
        writeFileSync(
          draft,
          `To: Alice <alice@${DOMAIN}>\nSubject: Re: ${subject}\nIn-Reply-To: <thread-${i - 3}@example.org>\nReferences: <thread-${i - 10}@example.org> <thread-${i - 3}@example.org>\n\nOn Monday you wrote:\n${quoted}\n\n${phrase}\n`,
        );
        jobs.push({ args: [...base, '-H', draft], stdin: '' });
      } else {
        const files: string[] = [];
        if (i % 400 === 5) {
          big++;
          files.push(...bigFiles.slice(0, 3), attachments[i % attachments.length] as string);
        } else {
          for (let k = 0; k < i % 4; k++) files.push(attachments[(i * 31 + k * 17) % attachments.length] as string);
        }
        const extra = i % 9 === 4 ? ['-e', 'set content_type=text/html'] : [];
        const html = extra.length > 0 ? `<html><body><p>${phrase}</p><pre>${text.replace(/</g, '&lt;')}</pre></body></html>\n` : body;
        jobs.push({
          args: [...base, ...extra, '-s', subject, ...(files.length > 0 ? ['-a', ...files] : []), '--', `alice@${DOMAIN}`],
          stdin: html,
        });
      }
    }

    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'dumb' };
    const runOne = (job: Job): Promise<void> =>
      new Promise((resolve, reject) => {
        const child = spawn(mutt, job.args, { env, cwd: work, stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('error', reject);
        child.once('exit', (code) => {
          if (code === 0) resolve();
          else reject(new Error(`mutt ${job.args.slice(5).join(' ')} exited with ${code}: ${stderr}`));
        });
        child.stdin.end(job.stdin);
      });
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < jobs.length) await runOne(jobs[next++] as Job);
      }),
    );

    const delivered = readdirSync(join(staging, 'new'));
    const expected = total;
    if (delivered.length !== expected) {
      const logs = ['mainlog', 'paniclog', 'rejectlog']
        .map((f) => (existsSync(join(log, f)) ? readFileSync(join(log, f), 'utf8') : ''))
        .join('');
      throw new Error(`exim delivered ${delivered.length} messages, expected ${expected}:\n${logs.slice(-4000)}`);
    }
    const owner = statSync(user.maildir);
    for (const name of delivered.sort()) {
      const dest = join(user.maildir, 'new', name);
      renameSync(join(staging, 'new', name), dest);
      chownSync(dest, owner.uid, owner.gid);
    }
    return { delivered: delivered.length, bounces, big };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
