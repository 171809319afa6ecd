/**
 * A private GNU Mailutils 3.15 imap4d + pop3d for integration tests (Debian's
 * mailutils-imap4d and mailutils-pop3d), each a daemon with its own config
 * file in the harness directory. Users are a virtual domain (a passwd-format
 * file in a private directory, logins user@domain); each INBOX is an mbox
 * file in the user's private home, written by deliver().
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePorts,
  harnessDir,
  missingFiles,
  removeDir,
  supervise,
  systemIds,
  toMbox,
  waitForGreeting,
  type MailServer,
  type MailUser,
} from './mail-server.js';

export const MAILUTILS_DOMAIN = 'example.org';

const IMAP4D = '/usr/sbin/imap4d';
const POP3D = '/usr/sbin/pop3d';

export function mailutilsMissing(): string | undefined {
  return missingFiles('GNU Mailutils', [IMAP4D, POP3D]);
}

export async function startMailutils(): Promise<MailServer> {
  const missing = mailutilsMissing();
  if (missing) throw new Error(missing);
  const ids = systemIds('mail');
  const dir = harnessDir('mailutils');
  const domains = join(dir, 'domains');
  const home = join(dir, 'home');
  mkdirSync(domains);
  mkdirSync(home);
  chownSync(home, ids.uid, ids.gid);
  const passwd = join(domains, MAILUTILS_DOMAIN);
  writeFileSync(passwd, '', { mode: 0o644 });
  const [imap, pop3] = (await freePorts(2)) as [number, number];
  const common = [
    'logging { syslog no; };',
    // virtdomain finds the user and its crypt(3) password; generic checks the password.
    'auth { authorization virtdomain; authentication generic; };',
    `virtdomain { passwd-dir "${domains}"; };`,
    `mailbox { mailbox-pattern "${home}/\${user}/INBOX"; mailbox-type mbox; };`,
    'mode daemon;',
    'foreground yes;',
  ].join('\n');
  const imapConf = join(dir, 'imap4d.conf');
  const pop3Conf = join(dir, 'pop3d.conf');
  writeFileSync(imapConf, `${common}\npidfile ${join(dir, 'imap4d.pid')};\nserver 127.0.0.1:${imap} { };\n`);
  writeFileSync(pop3Conf, `${common}\npidfile ${join(dir, 'pop3d.pid')};\nserver 127.0.0.1:${pop3} { };\n`);

  const started = Date.now();
  const imapd = supervise(IMAP4D, [`--config-file=${imapConf}`]);
  const popd = supervise(POP3D, [`--config-file=${pop3Conf}`]);
  const deadline = started + 15_000;
  try {
    await Promise.all([
      imapd.startup(waitForGreeting(imap, deadline, 'Mailutils imap4d'), 'imap4d'),
      popd.startup(waitForGreeting(pop3, deadline, 'Mailutils pop3d'), 'pop3d'),
    ]);
  } catch (err) {
    await Promise.all([imapd.stop(), popd.stop()]);
    throw err;
  }
  const startMs = Date.now() - started;

  return {
    name: 'mailutils',
    product: 'GNU Mailutils 3.15',
    dir,
    imap: { host: '127.0.0.1', port: imap },
    pop3: { host: '127.0.0.1', port: pop3 },
    startMs,
    addUser(name, password = `pw-${name}`): MailUser {
      const userHome = join(home, name);
      mkdirSync(userHome, { recursive: true });
      const inbox = join(userHome, 'INBOX');
      if (!existsSync(inbox)) writeFileSync(inbox, '', { mode: 0o600 });
      execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, userHome]);
      const hash = execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: password }).toString().trim();
      appendFileSync(passwd, `${name}:${hash}:${ids.uid}:${ids.gid}::${userHome}:/bin/false\n`);
      return { name, login: `${name}@${MAILUTILS_DOMAIN}`, password };
    },
    deliver(user, messages) {
      appendFileSync(join(home, user.name, 'INBOX'), toMbox(messages));
    },
    async stop() {
      await Promise.all([imapd.stop(), popd.stop()]);
      removeDir(dir);
    },
  };
}
