/**
 * The private Dovecot `poplift demo` runs against: its own configuration in
 * a temporary directory, loopback only, free ports, POP3 and IMAP without
 * TLS (poplift sends passwords in the clear only to loopback), users in
 * passwd-files, mail written straight into Maildirs. Run as root it uses the
 * `dovecot` system user for mail, as Debian's package does; otherwise
 * everything runs as the calling user. Whatever ends the process, the server
 * is killed and the directory removed (see `stop` and the exit hook).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const DOVECOT_PACKAGES = 'apt-get install dovecot-imapd dovecot-pop3d';

/** Where Debian's packages, then a local build, put Dovecot. */
export const DOVECOT_ROOTS = ['/usr', '/usr/local'];

/** What is missing of what the demo needs of Dovecot (the master and its IMAP and POP3 servers), or undefined. */
export function dovecotMissing(roots: readonly string[] = DOVECOT_ROOTS): string | undefined {
  const root = roots.find((r) => existsSync(join(r, 'sbin', 'dovecot')));
  if (root === undefined) return 'Dovecot is not installed';
  const missing = ['imap', 'pop3'].filter((p) => !existsSync(join(root, 'lib', 'dovecot', p)));
  return missing.length === 0 ? undefined : `Dovecot's ${missing.join(' and ')} server is not installed`;
}

function dovecotBinary(): string {
  return DOVECOT_ROOTS.map((r) => join(r, 'sbin', 'dovecot')).find((p) => existsSync(p)) ?? 'dovecot';
}

export interface DemoUser {
  name: string;
  password: string;
  maildir: string;
}

export interface DemoDovecot {
  readonly dir: string;
  /** The name Dovecot's processes carry (ps shows `<instance>/imap-login` ...). */
  readonly instance: string;
  readonly ports: { imap: number; pop3: number };
  addUser(name: string, password: string): DemoUser;
  deliver(user: DemoUser, raw: Buffer): void;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
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

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** uid and gid of a system user, from /etc/passwd. */
function systemUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function groupName(gid: number): string {
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[2] === String(gid));
  return line?.split(':')[0] ?? String(gid);
}

/** Servers started by this process and not yet stopped: killed however the process ends. */
const live = new Set<{ child: ChildProcess | undefined; dir: string }>();
let exitHooked = false;
function killAllNow(): void {
  for (const s of live) {
    try {
      s.child?.kill('SIGKILL');
    } catch {
      // Already gone.
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
  live.clear();
}

export async function startDemoDovecot(): Promise<DemoDovecot> {
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', killAllNow);
  }
  const me = userInfo();
  const root = me.uid === 0;
  const mail = root ? systemUser('dovecot') : { uid: me.uid, gid: me.gid };
  if (!mail) throw new Error("the system user 'dovecot' is missing: reinstall dovecot-core");
  const dir = mkdtempSync(join(tmpdir(), 'poplift-demo-'));
  // Dovecot's unprivileged processes must reach the homes and the passwd-files.
  chmodSync(dir, 0o755);
  const entry: { child: ChildProcess | undefined; dir: string } = { child: undefined, dir };
  try {
    const ports = { imap: await freePort(), pop3: await freePort() };
    while (ports.pop3 === ports.imap) ports.pop3 = await freePort();
    const usersDir = join(dir, 'users');
    mkdirSync(usersDir, { mode: 0o755 });
    const instance = `poplift-demo-${process.pid}`;
    const internalUser = root ? 'dovecot' : me.username;
    const loginUser = root ? 'dovenull' : me.username;
    const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = ${instance}
listen = 127.0.0.1
protocols = imap pop3
log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_internal_user = ${internalUser}
default_internal_group = ${root ? 'dovecot' : groupName(me.gid)}
default_login_user = ${loginUser}
first_valid_uid = ${Math.min(mail.uid, 100)}
first_valid_gid = ${Math.min(mail.gid, 100)}
mail_uid = ${mail.uid}
mail_gid = ${mail.gid}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${usersDir}/%u
}
userdb {
  driver = passwd-file
  args = username_format=%u ${usersDir}/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = ${ports.imap}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
}
`;
    const confPath = join(dir, 'dovecot.conf');
    writeFileSync(confPath, conf, { mode: 0o644 });
    const child = spawn(dovecotBinary(), ['-F', '-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    entry.child = child;
    live.add(entry);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // An object, so that the checks below see what the exit handler sets.
    const master = { exited: false };
    const gone = new Promise<void>((resolve) =>
      child.once('exit', () => {
        master.exited = true;
        resolve();
      }),
    );
    child.once('error', (err) => (stderr += err.message));
    // Up to 15 s for both listeners: Dovecot starts in well under a second, a loaded machine takes longer.
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (master.exited) {
        const log = existsSync(join(dir, 'dovecot.log')) ? readFileSync(join(dir, 'dovecot.log'), 'utf8') : '';
        throw new Error(`Dovecot did not start: ${(stderr + log).trim().split('\n').slice(-3).join(' ')}`);
      }
      if ((await listening(ports.imap)) && (await listening(ports.pop3))) break;
      if (Date.now() > deadline) throw new Error('Dovecot did not listen within 15 s');
      await new Promise((r) => setTimeout(r, 50));
    }

    let seq = 0;
    return {
      dir,
      instance,
      ports,
      addUser(name, password) {
        const home = join(dir, 'home', name);
        const maildir = join(home, 'Maildir');
        for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
        for (const p of [join(dir, 'home'), home, maildir, ...['cur', 'new', 'tmp'].map((s) => join(maildir, s))]) {
          chownSync(p, mail.uid, mail.gid);
        }
        writeFileSync(join(usersDir, name), `${name}:{PLAIN}${password}:${mail.uid}:${mail.gid}::${home}::\n`, { mode: 0o644 });
        return { name, password, maildir };
      },
      deliver(user, raw) {
        const base = `${Date.now()}.M${++seq}P${process.pid}.poplift-demo`;
        const tmp = join(user.maildir, 'tmp', base);
        writeFileSync(tmp, raw);
        chownSync(tmp, mail.uid, mail.gid);
        renameSync(tmp, join(user.maildir, 'new', base));
      },
      async stop() {
        if (!master.exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await gone;
          clearTimeout(timer);
        }
        live.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    entry.child?.kill('SIGKILL');
    live.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
