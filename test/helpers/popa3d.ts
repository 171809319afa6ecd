/**
 * A private popa3d 1.0 (POP3 only) for integration tests. popa3d conflicts
 * with Dovecot's packages, so it comes from the private root of
 * .ci/install-servers. It authenticates system users through PAM, reads
 * /var/mail/<user> and chroots to /var/lib/popa3d as user popa3d: it runs in
 * a private mount and PID namespace (unshare) where /etc/passwd, /etc/shadow
 * and /var/mail are the harness's own files and /var/lib is a fresh tmpfs, so
 * the system's users and mail are neither read nor changed. couriertcpd
 * (courier-base) accepts the connections and runs popa3d per connection, as
 * inetd would.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePorts,
  harnessDir,
  missingFiles,
  removeDir,
  serversRoot,
  superviseIsolated,
  systemIds,
  toMbox,
  waitForGreeting,
  type MailServer,
  type MailUser,
} from './mail-server.js';

function files() {
  return {
    unshare: '/usr/bin/unshare',
    couriertcpd: '/usr/sbin/couriertcpd',
    popa3d: join(serversRoot(), 'usr/sbin/popa3d'),
  };
}

export function popa3dMissing(): string | undefined {
  return missingFiles('popa3d', Object.values(files()));
}

/** An unused uid for the popa3d privilege-separation user, known only inside the namespace. */
const POPA3D_UID = 64_999;

export async function startPopa3d(): Promise<MailServer> {
  const missing = popa3dMissing();
  if (missing) throw new Error(missing);
  const f = files();
  const ids = systemIds('mail');
  const dir = harnessDir('popa3d');
  const spool = join(dir, 'mail');
  mkdirSync(spool);
  chmodSync(spool, 0o1777);
  const bin = join(dir, 'popa3d');
  copyFileSync(f.popa3d, bin);
  chmodSync(bin, 0o755);
  const passwd = join(dir, 'passwd');
  const shadow = join(dir, 'shadow');
  writeFileSync(
    passwd,
    `${readFileSync('/etc/passwd', 'utf8').replace(/\n?$/, '\n')}popa3d:x:${POPA3D_UID}:65534::/var/lib/popa3d:/usr/sbin/nologin\n`,
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
mount --bind ${spool} /var/mail
mount -t tmpfs -o mode=755 poplift-popa3d /var/lib
mkdir -m 755 /var/lib/popa3d
exec ${f.couriertcpd} -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup ${pop3} ${bin}
`,
  );
  const started = Date.now();
  const ns = superviseIsolated(f.unshare, script);
  await ns.startup(waitForGreeting(pop3, started + 15_000, 'popa3d'), 'popa3d');
  const startMs = Date.now() - started;

  const mboxOf = (name: string) => join(spool, name);
  return {
    name: 'popa3d',
    product: 'popa3d 1.0',
    dir,
    pop3: { host: '127.0.0.1', port: pop3 },
    startMs,
    addUser(name, password = `pw-${name}`): MailUser {
      const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: password }).toString().trim();
      // The same uid as the mail user: the namespace's passwd may list several names for it.
      appendFileSync(passwd, `${name}:x:${ids.uid}:${ids.gid}::/nonexistent:/usr/sbin/nologin\n`);
      appendFileSync(shadow, `${name}:${hash}:19000:0:99999:7:::\n`);
      writeFileSync(mboxOf(name), '', { mode: 0o600 });
      chownSync(mboxOf(name), ids.uid, ids.gid);
      return { name, login: name, password };
    },
    deliver(user, messages) {
      appendFileSync(mboxOf(user.name), toMbox(messages));
    },
    async stop() {
      // The namespace's init ignores SIGTERM; killing unshare takes the whole namespace down (--kill-child).
      await ns.stop('SIGKILL');
      removeDir(dir);
    },
  };
}
