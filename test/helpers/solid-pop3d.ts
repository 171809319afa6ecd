/**
 * A private solid-pop3d 0.15 (POP3 only, Maildir) for integration tests.
 * solid-pop3d conflicts with Dovecot's packages, so it comes from the private
 * root of .ci/install-servers. It authenticates system users through PAM and
 * is an inetd-style server: as for popa3d, it runs in a private mount and PID
 * namespace where /etc/passwd and /etc/shadow are the harness's own files,
 * and couriertcpd (courier-base) runs it per connection. Its configuration
 * file and each user's Maildir live in the harness directory.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  return {
    unshare: '/usr/bin/unshare',
    couriertcpd: '/usr/sbin/couriertcpd',
    solid: join(serversRoot(), 'usr/sbin/solid-pop3d'),
  };
}

export function solidPop3dMissing(): string | undefined {
  return missingFiles('solid-pop3d', Object.values(files()));
}

export interface SolidPop3d extends MailServer {
  addUser(name: string, password?: string): MailUser;
  deliver(user: MailUser, messages: Buffer[]): void;
  /** A user's Maildir, for tests that write files into it the way a delivery agent would. */
  maildirOf(user: MailUser): string;
}

/** An unused uid for solid-pop3d's privilege-separation user. */
const SPOP3D_UID = 64_998;

export async function startSolidPop3d(): Promise<SolidPop3d> {
  const missing = solidPop3dMissing();
  if (missing) throw new Error(missing);
  const f = files();
  const ids = systemIds('mail');
  const dir = harnessDir('solid-pop3d');
  const bin = join(dir, 'solid-pop3d');
  copyFileSync(f.solid, bin);
  chmodSync(bin, 0o755);
  const maildirs = join(dir, 'maildirs');
  mkdirSync(maildirs, { mode: 0o755 });
  const config = join(dir, 'spop3d.conf');
  writeFileSync(
    config,
    `<Global>
\tMailDropName\t${maildirs}/%s
\tMailDropType\tmaildir
\tAutoLogoutTime\t2m
</Global>
`,
    { mode: 0o644 },
  );
  const passwd = join(dir, 'passwd');
  const shadow = join(dir, 'shadow');
  // Its unprivileged half runs as the user spop3d, known only inside the namespace.
  writeFileSync(
    passwd,
    `${readFileSync('/etc/passwd', 'utf8').replace(/\n?$/, '\n')}spop3d:x:${SPOP3D_UID}:65534::/nonexistent:/usr/sbin/nologin\n`,
    { mode: 0o644 },
  );
  writeFileSync(shadow, existsSync('/etc/shadow') ? readFileSync('/etc/shadow', 'utf8').replace(/\n?$/, '\n') : '', { mode: 0o640 });
  const [pop3] = (await freePorts(1)) as [number];
  const script = join(dir, 'run.sh');
  writeFileSync(
    script,
    `set -e
mount --bind ${passwd} /etc/passwd
mount --bind ${shadow} /etc/shadow
exec ${f.couriertcpd} -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup ${pop3} ${bin} -f ${config}
`,
  );
  const started = Date.now();
  const ns = superviseIsolated(f.unshare, script);
  await ns.startup(waitForGreeting(pop3, started + 15_000, 'solid-pop3d'), 'solid-pop3d');
  const startMs = Date.now() - started;

  const maildirOf = (user: MailUser) => join(maildirs, user.name);
  let delivered = 0;
  return {
    name: 'solid-pop3d',
    product: 'solid-pop3d 0.15',
    dir,
    pop3: { host: '127.0.0.1', port: pop3 },
    startMs,
    maildirOf,
    addUser(name, password = `pw-${name}`): MailUser {
      const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: password }).toString().trim();
      // The same uid as the mail user: the namespace's passwd may list several names for it.
      appendFileSync(passwd, `${name}:x:${ids.uid}:${ids.gid}::/nonexistent:/usr/sbin/nologin\n`);
      appendFileSync(shadow, `${name}:${hash}:19000:0:99999:7:::\n`);
      const user = { name, login: name, password };
      for (const sub of ['', 'new', 'cur', 'tmp']) {
        const path = join(maildirOf(user), sub);
        mkdirSync(path, { mode: 0o700 });
        chownSync(path, ids.uid, ids.gid);
      }
      return user;
    },
    deliver(user, messages) {
      // Maildir files hold LF line ends, as a local delivery agent writes them; the bytes are otherwise kept.
      for (const raw of messages) {
        const path = join(maildirOf(user), 'new', `${Date.now()}.${process.pid}_${delivered++}.poplift`);
        writeFileSync(path, Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), { mode: 0o600 });
        chownSync(path, ids.uid, ids.gid);
      }
    },
    async stop() {
      // The namespace's init ignores SIGTERM; killing unshare takes the whole namespace down (--kill-child).
      await ns.stop('SIGKILL');
      removeDir(dir);
    },
  };
}
