/**
 * A private Dovecot (IMAP + POP3) for integration tests: its own config in a
 * temp dir, loopback only, random free ports, plain and implicit-TLS
 * listeners with a self-signed certificate made at start, users in a
 * passwd-file added on demand, and raw message bytes written straight into a
 * user's Maildir.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  writeFileSync,
  mkdirSync,
  chownSync,
  chmodSync,
  readFileSync,
  rmSync,
  renameSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DOVECOT_INSTALL_HINT = 'apt-get install dovecot-imapd dovecot-pop3d';
/** Every harness directory carries this prefix so a global teardown can find strays. */
export const HARNESS_PREFIX = 'poplift-dovecot-';
/** Set by the vitest global setup; names the test run a harness Dovecot belongs to. */
export const HARNESS_RUN_ENV = 'POPLIFT_HARNESS_RUN';

export interface DovecotOptions {
  /**
   * Allow plaintext logins on non-TLS connections (default true). false sets
   * disable_plaintext_auth = yes, which Dovecot does not apply to a client on
   * the server's own address: see extraListen.
   */
  plaintextAuth?: boolean;
  /** IMAP hierarchy separator of the private namespace (default Dovecot's maildir '.'). */
  separator?: string;
  /**
   * Set false for a server without TLS: no STARTTLS/STLS and no implicit-TLS
   * listeners (ports.imaps and ports.pop3s are 0). A fault-injecting proxy
   * can then match on the plaintext protocol.
   */
  tls?: boolean;
  /** Extra configuration lines appended verbatim. */
  extraConfig?: string;
  /**
   * SASL mechanisms offered (default 'plain login'). Add 'apop' for APOP:
   * pop3-login then puts a <timestamp> in its greeting.
   */
  authMechanisms?: string;
  /**
   * Validate OAuth2 access tokens (mechanisms xoauth2 and oauthbearer) with
   * Dovecot's oauth2 passdb, which POSTs token=... to this RFC 7662
   * introspection URL and expects {"active":true,"username":"<user>"}.
   * Passwords keep coming from the passwd-file passdb.
   */
  oauth2IntrospectionUrl?: string;
  /**
   * IPv4 addresses to listen on besides 127.0.0.1; the certificate lists them
   * too. Dovecot counts a connection whose two ends have the same address as
   * secured, so plaintextAuth false only bites on, e.g., 127.0.0.2 (reached
   * from 127.0.0.1), not on 127.0.0.1 itself.
   */
  extraListen?: string[];
  /**
   * Dovecot's imap_capability: the CAPABILITY list announced before and
   * after login, as a hosted provider's (see test/helpers/providers.ts).
   * Dovecot still implements what it implements; clients go by the list.
   */
  imapCapability?: string;
  /** Dovecot's login_greeting: the text of the greeting line after its [CAPABILITY ...] code. */
  loginGreeting?: string;
  /** IMAP connections one user may hold from one address (default 200). */
  imapMaxConnections?: number;
}

export interface DovecotUser {
  name: string;
  password: string;
  home: string;
  maildir: string;
}

export interface Dovecot {
  readonly dir: string;
  readonly host: '127.0.0.1';
  readonly ports: { imap: number; imaps: number; pop3: number; pop3s: number };
  /** PEM of the self-signed server certificate (subject CN=localhost, SAN localhost, 127.0.0.1 and extraListen). */
  readonly certPath: string;
  readonly logPath: string;
  addUser(name: string, password?: string): DovecotUser;
  /** Writes raw bytes as a new message in the user's INBOX (Maildir/new). */
  deliver(user: DovecotUser, raw: Buffer): string;
  /** Number of message files in the user's INBOX (new + cur). */
  countInbox(user: DovecotUser): number;
  stop(): Promise<void>;
}

export function dovecotBinary(): string | undefined {
  for (const p of ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot']) if (existsSync(p)) return p;
  return undefined;
}

/** True when integration tests should be skipped rather than fail. */
export function skipIntegration(): boolean {
  return process.env.POPLIFT_SKIP_INTEGRATION === '1';
}

async function freePort(): Promise<number> {
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

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function waitForPort(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`Dovecot did not listen on port ${port} in time`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`system user '${name}' is missing: reinstall dovecot-core`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function makeCertificate(dir: string, extraIps: string[]): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', ...extraIps.map((ip) => `IP:${ip}`)].join(',')}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  chmodSync(key, 0o644);
  return { cert, key };
}

let sequence = 0;
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startDovecot(options: DovecotOptions = {}): Promise<Dovecot> {
  const binary = dovecotBinary();
  if (!binary) throw new Error(`Dovecot is not installed: ${DOVECOT_INSTALL_HINT}`);
  const dir = mkdtempSync(join(tmpdir(), `${HARNESS_PREFIX}${process.env[HARNESS_RUN_ENV] ?? 'solo'}-`));
  // Dovecot's unprivileged processes must traverse the tree to reach homes and the passwd-file.
  chmodSync(dir, 0o755);
  const mailIds = userIds('dovecot');
  const tls = options.tls !== false;
  const [imap, tlsImap, pop3, tlsPop3] = (await distinctFreePorts(4)) as [number, number, number, number];
  const imaps = tls ? tlsImap : 0;
  const pop3s = tls ? tlsPop3 : 0;
  const { cert, key } = makeCertificate(dir, options.extraListen ?? []);
  // One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a second,
  // so a user added right after a login would not be found in a shared file.
  const usersDir = join(dir, 'users');
  mkdirSync(usersDir, { mode: 0o755 });
  const logPath = join(dir, 'dovecot.log');
  const dh = existsSync('/usr/share/dovecot/dh.pem') ? 'ssl_dh = </usr/share/dovecot/dh.pem' : '';
  const instance = `${HARNESS_PREFIX}${process.pid}-${++sequence}`;
  const mechanisms = options.authMechanisms ?? 'plain login';
  let oauth2 = '';
  if (options.oauth2IntrospectionUrl !== undefined) {
    const oauth2Conf = join(dir, 'dovecot-oauth2.conf.ext');
    writeFileSync(
      oauth2Conf,
      [
        `introspection_url = ${options.oauth2IntrospectionUrl}`,
        'introspection_mode = post',
        'username_attribute = username',
        'active_attribute = active',
        'active_value = true',
        'timeout_msecs = 5000',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    oauth2 = `passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${oauth2Conf}\n}`;
  }
  const separator = options.separator ? `namespace inbox {\n  inbox = yes\n  separator = ${options.separator}\n}` : '';
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = ${instance}
listen = ${['127.0.0.1', ...(options.extraListen ?? [])].join(', ')}
protocols = imap pop3
log_path = ${logPath}
${tls ? `ssl = yes\nssl_cert = <${cert}\nssl_key = <${key}\n${dh}` : 'ssl = no'}
disable_plaintext_auth = ${options.plaintextAuth === false ? 'yes' : 'no'}
auth_mechanisms = ${mechanisms}
# Tests of wrong passwords need no brute-force delay.
auth_failure_delay = 0
mail_location = maildir:~/Maildir
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = ${Math.min(mailIds.uid, 100)}
first_valid_gid = ${Math.min(mailIds.gid, 100)}
mail_uid = ${mailIds.uid}
mail_gid = ${mailIds.gid}
${separator}
${oauth2}
passdb {
  driver = passwd-file
  ${oauth2 ? 'mechanisms = plain login apop none' : ''}
  args = scheme=PLAIN username_format=%u ${usersDir}/%u
}
userdb {
  driver = passwd-file
  args = username_format=%u ${usersDir}/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = ${imap}
  }
  ${tls ? `inet_listener imaps {\n    port = ${imaps}\n    ssl = yes\n  }` : ''}
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = ${pop3}
  }
  ${tls ? `inet_listener pop3s {\n    port = ${pop3s}\n    ssl = yes\n  }` : ''}
}
service anvil {
  chroot =
}
# Crash tests kill clients mid-session; their connections may linger for a moment.
protocol imap {
  mail_max_userip_connections = ${options.imapMaxConnections ?? 200}
  ${options.imapCapability !== undefined ? `imap_capability = ${options.imapCapability}` : ''}
}
${options.loginGreeting !== undefined ? `login_greeting = ${options.loginGreeting}` : ''}
protocol pop3 {
  mail_max_userip_connections = 200
}
${options.extraConfig ?? ''}
`;
  const confPath = join(dir, 'dovecot.conf');
  writeFileSync(confPath, conf);
  const child = spawn(binary, ['-F', '-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });
  const deadline = Date.now() + 15_000;
  try {
    await Promise.race([
      Promise.all([imap, imaps, pop3, pop3s].filter((p) => p !== 0).map((p) => waitForPort(p, deadline))),
      new Promise((_, reject) =>
        child.once('exit', (code) => {
          const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
          reject(new Error(`Dovecot exited with ${code} at start: ${stderr}${log}`));
        }),
      ),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  let fileSeq = 0;
  const dovecot: Dovecot = {
    dir,
    host: '127.0.0.1',
    ports: { imap, imaps, pop3, pop3s },
    certPath: cert,
    logPath,
    addUser(name, password = `pw-${name}`) {
      const home = join(dir, 'home', name);
      const maildir = join(home, 'Maildir');
      for (const sub of ['', 'cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
      for (const p of [join(dir, 'home'), home, maildir, join(maildir, 'cur'), join(maildir, 'new'), join(maildir, 'tmp')]) {
        chownSync(p, mailIds.uid, mailIds.gid);
      }
      writeFileSync(join(usersDir, name), `${name}:{PLAIN}${password}:${mailIds.uid}:${mailIds.gid}::${home}::\n`, { mode: 0o644 });
      return { name, password, home, maildir };
    },
    deliver(user, raw) {
      const base = `${Date.now()}.M${++fileSeq}P${process.pid}.poplift-test`;
      const tmp = join(user.maildir, 'tmp', base);
      writeFileSync(tmp, raw);
      chownSync(tmp, mailIds.uid, mailIds.gid);
      const dest = join(user.maildir, 'new', base);
      renameSync(tmp, dest);
      return dest;
    },
    countInbox(user) {
      return ['new', 'cur'].reduce(
        (n, sub) => n + readdirSync(join(user.maildir, sub)).filter((f) => statSync(join(user.maildir, sub, f)).isFile()).length,
        0,
      );
    },
    async stop() {
      if (!exited) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return dovecot;
}
