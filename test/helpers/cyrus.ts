/**
 * A private Cyrus IMAP 3.6 (IMAP + POP3 + LMTP) for integration tests. Debian
 * ships cyrus-imapd/cyrus-pop3d as conflicting with Dovecot, so imapd and
 * pop3d come from the private root of .ci/install-servers; master, lmtpd and
 * the tools from cyrus-common. Users live in a private sasldb (auxprop),
 * mailboxes are created by an admin over IMAP, mail arrives by LMTP on a
 * socket in the private config directory. Debian's defaults otherwise,
 * munge8bit included: that is what users of the server meet.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineClient, imapAdmin } from './imap-line.js';
import {
  freePorts,
  harnessDir,
  missingFiles,
  removeDir,
  serversRoot,
  supervise,
  systemIds,
  waitForGreeting,
  type MailServer,
  type MailUser,
} from './mail-server.js';

const CYRUS_BIN = '/usr/lib/cyrus/bin';

function files() {
  const root = serversRoot();
  return {
    master: join(CYRUS_BIN, 'master'),
    lmtpd: join(CYRUS_BIN, 'lmtpd'),
    ctlCyrusdb: join(CYRUS_BIN, 'ctl_cyrusdb'),
    saslpasswd2: '/usr/sbin/saslpasswd2',
    imapd: join(root, 'usr/lib/cyrus/bin/imapd'),
    pop3d: join(root, 'usr/lib/cyrus/bin/pop3d'),
  };
}

export function cyrusMissing(): string | undefined {
  return missingFiles('Cyrus', Object.values(files()));
}

const ADMIN = 'cyrusadmin';
const ADMIN_PASSWORD = 'pw-cyrusadmin';

export async function startCyrus(): Promise<MailServer> {
  const missing = cyrusMissing();
  if (missing) throw new Error(missing);
  const f = files();
  const ids = systemIds('cyrus');
  const dir = harnessDir('cyrus');
  const conf = join(dir, 'conf');
  const spool = join(dir, 'spool');
  const bin = join(dir, 'bin');
  for (const d of ['db', 'socket', 'proc', 'log', 'msg', 'user', 'quota', 'sieve', 'lock', 'ptclient'])
    mkdirSync(join(conf, d), { recursive: true });
  mkdirSync(spool);
  mkdirSync(bin);
  // The private root may sit under a home the cyrus user cannot traverse.
  copyFileSync(f.imapd, join(bin, 'imapd'));
  copyFileSync(f.pop3d, join(bin, 'pop3d'));
  execFileSync('chmod', ['755', join(bin, 'imapd'), join(bin, 'pop3d')]);
  const sasldb = join(dir, 'sasldb2');
  const imapdConf = join(dir, 'imapd.conf');
  const lmtpSocket = join(conf, 'socket', 'lmtp');
  writeFileSync(
    imapdConf,
    [
      `configdirectory: ${conf}`,
      `partition-default: ${spool}`,
      `admins: ${ADMIN}`,
      'sasl_pwcheck_method: auxprop',
      'sasl_auxprop_plugin: sasldb',
      `sasl_sasldb_path: ${sasldb}`,
      'sasl_mech_list: PLAIN LOGIN',
      'allowplaintext: yes',
      'unixhierarchysep: no',
      'altnamespace: no',
      // lmtpd would drop a second message with the same Message-ID: tests deliver such twins on purpose.
      'duplicatesuppression: no',
      `syslog_prefix: ${dir.split('/').pop()}`,
      `idlesocket: ${join(conf, 'socket', 'idle')}`,
      `notifysocket: ${join(conf, 'socket', 'notify')}`,
      `lmtpsocket: ${lmtpSocket}`,
      '',
    ].join('\n'),
  );
  const [imap, pop3] = (await freePorts(2)) as [number, number];
  const cyrusConf = join(dir, 'cyrus.conf');
  writeFileSync(
    cyrusConf,
    `START {
  recover cmd="${f.ctlCyrusdb} -C ${imapdConf} -r"
}
SERVICES {
  imap cmd="${join(bin, 'imapd')} -C ${imapdConf}" listen="127.0.0.1:${imap}" prefork=0
  pop3 cmd="${join(bin, 'pop3d')} -C ${imapdConf}" listen="127.0.0.1:${pop3}" prefork=0
  lmtpunix cmd="${f.lmtpd} -C ${imapdConf}" listen="${lmtpSocket}" prefork=0
}
EVENTS {
}
DAEMON {
}
`,
  );
  const saslpasswd = (user: string, password: string) =>
    execFileSync(f.saslpasswd2, ['-p', '-c', '-f', sasldb, user], { input: password, stdio: ['pipe', 'ignore', 'pipe'] });
  saslpasswd(ADMIN, ADMIN_PASSWORD);
  execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, conf, spool, sasldb]);

  const started = Date.now();
  const master = supervise(f.master, ['-C', imapdConf, '-M', cyrusConf, '-p', join(dir, 'master.pid'), '-D']);
  const deadline = started + 15_000;
  await master.startup(
    Promise.all([waitForGreeting(imap, deadline, 'Cyrus IMAP'), waitForGreeting(pop3, deadline, 'Cyrus POP3')]),
    'Cyrus master',
  );
  const startMs = Date.now() - started;

  return {
    name: 'cyrus',
    product: 'Cyrus IMAP 3.6',
    dir,
    imap: { host: '127.0.0.1', port: imap },
    pop3: { host: '127.0.0.1', port: pop3 },
    startMs,
    async addUser(name, password = `pw-${name}`): Promise<MailUser> {
      saslpasswd(name, password);
      chownSync(sasldb, ids.uid, ids.gid);
      await imapAdmin(imap, ADMIN, ADMIN_PASSWORD, [`CREATE user.${name}`]);
      return { name, login: name, password };
    },
    async deliver(user, messages) {
      const c = await LineClient.open({ path: lmtpSocket });
      try {
        const expect = async (code: string, what: string) => {
          const lines = await c.until((l) => /^\d{3} /.test(l));
          const last = lines[lines.length - 1]!;
          if (!last.startsWith(code)) throw new Error(`Cyrus LMTP refused ${what}: ${last}`);
        };
        await expect('220', 'the session');
        c.write('LHLO poplift-test\r\n');
        await expect('250', 'LHLO');
        for (const [i, raw] of messages.entries()) {
          c.write(`MAIL FROM:<>\r\nRCPT TO:<${user.name}>\r\nDATA\r\n`);
          await expect('250', 'MAIL FROM');
          await expect('250', 'RCPT TO');
          await expect('354', 'DATA');
          // SMTP framing: CRLF line ends, dot-stuffing, a final line end before the dot.
          let text = raw
            .toString('latin1')
            .replace(/\r?\n/g, '\r\n')
            .replace(/(^|\r\n)\./g, '$1..');
          if (!text.endsWith('\r\n')) text += '\r\n';
          c.write(Buffer.from(`${text}.\r\n`, 'latin1'));
          await expect('250', `message ${i + 1}`);
        }
        c.write('QUIT\r\n');
      } finally {
        c.close();
      }
    },
    async stop() {
      await master.stop();
      removeDir(dir);
    },
  };
}
