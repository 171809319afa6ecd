/**
 * A private Courier-IMAP 5.0 + Courier POP3 for integration tests. courier-imap
 * and courier-pop conflict with Dovecot's packages, so their binaries come
 * from the private root of .ci/install-servers; authdaemond and couriertcpd
 * from courier-authdaemon and courier-base. Courier's authlib has compiled-in
 * paths (/etc/courier, /run/courier), so everything runs in a private mount
 * and PID namespace (unshare) with the harness directory bound over those
 * paths: nothing on the system changes, and killing unshare kills the lot.
 * Users live in a private userdb; mail is written into their Maildir.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePorts,
  harnessDir,
  missingFiles,
  removeDir,
  serversRoot,
  superviseIsolated,
  systemIds,
  waitForGreeting,
  type MailServer,
  type MailUser,
} from './mail-server.js';

function files() {
  const root = serversRoot();
  return {
    unshare: '/usr/bin/unshare',
    authdaemond: '/usr/lib/courier/courier-authlib/authdaemond',
    authdaemonrc: '/etc/courier/authdaemonrc',
    couriertcpd: '/usr/sbin/couriertcpd',
    makeuserdb: '/usr/sbin/makeuserdb',
    userdbModule: '/usr/lib/x86_64-linux-gnu/courier-authlib/libauthuserdb.so',
    imaplogin: join(root, 'usr/lib/courier/courier/imaplogin'),
    imapd: join(root, 'usr/bin/imapd'),
    imapdConfig: join(root, 'etc/courier/imapd'),
    pop3login: join(root, 'usr/lib/courier/courier/courierpop3login'),
    pop3d: join(root, 'usr/lib/courier/courier/courierpop3d'),
    pop3dConfig: join(root, 'etc/courier/pop3d'),
  };
}

export function courierMissing(): string | undefined {
  const f = files();
  // The userdb module is found at run time; the rest must be where the install put them.
  const required = Object.entries(f)
    .filter(([name]) => name !== 'userdbModule')
    .map(([, path]) => path);
  return missingFiles('Courier', required);
}

export interface CourierOptions {
  /**
   * Offer AUTH=PLAIN over plain text (default true). false leaves Debian's
   * default: over loopback without TLS, the LOGIN command is the only way in.
   */
  authPlain?: boolean;
}

export async function startCourier(options: CourierOptions = {}): Promise<MailServer> {
  const missing = courierMissing();
  if (missing) throw new Error(missing);
  const f = files();
  const ids = systemIds('mail');
  const dir = harnessDir('courier');
  const etc = join(dir, 'etc');
  const run = join(dir, 'run');
  const bin = join(dir, 'bin');
  const home = join(dir, 'home');
  for (const d of [etc, join(run, 'authdaemon'), bin, home]) mkdirSync(d, { recursive: true });
  chownSync(home, ids.uid, ids.gid);
  for (const [from, to] of [
    [f.imaplogin, 'imaplogin'],
    [f.imapd, 'imapd'],
    [f.pop3login, 'courierpop3login'],
    [f.pop3d, 'courierpop3d'],
  ] as const) {
    copyFileSync(from, join(bin, to));
    chmodSync(join(bin, to), 0o755);
  }
  copyFileSync(f.imapdConfig, join(etc, 'imapd'));
  copyFileSync(f.pop3dConfig, join(etc, 'pop3d'));
  const rc = execFileSync('cat', [f.authdaemonrc])
    .toString()
    .replace(/^authmodulelist=.*$/m, 'authmodulelist="authuserdb"');
  writeFileSync(join(etc, 'authdaemonrc'), rc, { mode: 0o640 });
  const userdb = join(etc, 'userdb');
  writeFileSync(userdb, '', { mode: 0o600 });
  execFileSync(f.makeuserdb, ['-f', userdb]);

  const [imap, pop3] = (await freePorts(2)) as [number, number];
  const tcpd = `${f.couriertcpd} -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup`;
  const script = join(dir, 'run.sh');
  writeFileSync(
    script,
    `set -e
mount --bind ${etc} /etc/courier
mount --bind ${run} /run/courier
${f.authdaemond} &
set -a
. ${etc}/imapd
${
  options.authPlain === false
    ? ''
    : `# Debian offers AUTH=PLAIN only with TLS; these tests log in over loopback without it.
IMAP_CAPABILITY="$IMAP_CAPABILITY AUTH=PLAIN"
`
}IMAPDSTARTTLS=NO
${tcpd} ${imap} ${bin}/imaplogin ${bin}/imapd Maildir &
. ${etc}/pop3d
${tcpd} ${pop3} ${bin}/courierpop3login ${bin}/courierpop3d Maildir &
wait
`,
  );
  const started = Date.now();
  const ns = superviseIsolated(f.unshare, script);
  const deadline = started + 15_000;
  await ns.startup(
    Promise.all([waitForGreeting(imap, deadline, 'Courier IMAP'), waitForGreeting(pop3, deadline, 'Courier POP3')]),
    'Courier',
  );
  const startMs = Date.now() - started;

  let fileSeq = 0;
  const maildirOf = (name: string) => join(home, name, 'Maildir');
  return {
    name: 'courier',
    product: 'Courier-IMAP 5.0 / Courier POP3',
    dir,
    imap: { host: '127.0.0.1', port: imap },
    pop3: { host: '127.0.0.1', port: pop3 },
    startMs,
    addUser(name, password = `pw-${name}`): MailUser {
      const maildir = maildirOf(name);
      for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
      execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, join(home, name)]);
      const hash = execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: password }).toString().trim();
      appendFileSync(userdb, `${name}\tuid=${ids.uid}|gid=${ids.gid}|home=${join(home, name)}|mail=${maildir}|systempw=${hash}\n`);
      execFileSync(f.makeuserdb, ['-f', userdb]);
      return { name, login: name, password };
    },
    deliver(user, messages) {
      const maildir = maildirOf(user.name);
      for (const raw of messages) {
        // Courier's own delivery agents store LF line ends; its servers add the CRs back.
        const stored = Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
        const base = `${Date.now()}.M${++fileSeq}P${process.pid}.poplift-test`;
        const tmp = join(maildir, 'tmp', base);
        writeFileSync(tmp, stored);
        chownSync(tmp, ids.uid, ids.gid);
        renameSync(tmp, join(maildir, 'new', base));
      }
    },
    async stop() {
      // The namespace's init ignores SIGTERM; killing unshare takes the whole namespace down (--kill-child).
      await ns.stop('SIGKILL');
      removeDir(dir);
    },
  };
}
