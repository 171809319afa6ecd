/**
 * Issue 20 item 6: text a server or a message chose (a LOGIN or APPEND NO,
 * folder names, the greeting under --debug, UIDLs, Subjects) carrying
 * terminal escapes (OSC 52 clipboard, OSC 0 title, CSI 2J, the 8-bit CSI
 * U+009B), bidi overrides and CR/LF-forged lines, against the real Dovecot
 * behind a proxy that puts those words in its mouth (Dovecot never says
 * them) and a scripted POP3 server. Nothing of it may reach stderr,
 * --log-file or --json as a control character, and no forged line appears.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readCommands, TcpProxy } from '../helpers/imap-proxy.js';
import { startScriptedPop3, type ScriptedPop3 } from '../helpers/scripted-pop3.js';
import { describeIntegration } from '../helpers/suite.js';

/** UTF-8 bytes as a latin1 string: what goes on the wire byte for byte. */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/** OSC 52 (set the clipboard), OSC 0 (window title), CSI 2J (clear), 8-bit CSI, a bidi override, DEL. */
const ESCAPES = '\x1b]52;c;cG9wbGlmdA==\x07 \x1b]0;pwned\x07 \x1b[2J \u009b31m \u202eevil\u202c \x7f end';

/** Every character that acts on a terminal or reorders text, except the LF that ends a line. */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function expectClean(what: string, text: string): void {
  expect(text, what).not.toMatch(UNSAFE);
  expect(text, what).not.toMatch(/^(\S+ )?poplift: (verify )?forged/m);
}

/** stderr, the log file (verify has none) and stdout (each --json line parses) carry no control character. */
function expectAllClean(r: CliResult, log: string | undefined): void {
  expectClean('stderr', r.stderr);
  if (log !== undefined) expectClean('--log-file', readFileSync(log, 'utf8'));
  expectClean('stdout', r.stdout);
  for (const line of r.stdout.trimEnd().split('\n').filter(Boolean)) JSON.parse(line);
}

type Rewrite = (line: string, verbOf: (tag: string) => string | undefined) => string;

/**
 * In front of Dovecot's IMAP port: client commands pass unchanged (their
 * tags and verbs noted); each server line (literals passed through as they
 * are) goes through `rewrite`, which may return several lines.
 */
function rewritingProxy(target: number, rewrite: Rewrite): Promise<TcpProxy> {
  return TcpProxy.start(target, (client: Socket, upstream: Socket) => {
    const verbs = new Map<string, string>();
    readCommands(client, {
      start: (text) => {
        const [tag = '', verb = ''] = text.split(' ');
        verbs.set(tag, verb.toUpperCase());
      },
      line: (line) => upstream.write(line),
      literal: (bytes) => upstream.write(bytes),
    });
    let buffer = Buffer.alloc(0);
    let literal = 0;
    upstream.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (literal > 0) {
          const n = Math.min(literal, buffer.length);
          if (n === 0) return;
          client.write(buffer.subarray(0, n));
          buffer = buffer.subarray(n);
          literal -= n;
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.toString('latin1', 0, eol);
        buffer = buffer.subarray(eol + 2);
        client.write(Buffer.from(`${rewrite(line, (tag) => verbs.get(tag))}\r\n`, 'latin1'));
        const announced = /\{(\d+)\+?\}$/.exec(line);
        if (announced) literal = Number(announced[1]);
      }
    });
  });
}

const message = (i: number, subject: string): Buffer =>
  Buffer.concat([
    Buffer.from(`From: a@example.org\r\nSubject: `),
    Buffer.from(subject, 'latin1'),
    Buffer.from(`\r\nMessage-ID: <inj${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\nbody ${i}\r\n`),
  ]);

/** A raw ESC sequence in an 8-bit Subject, and one in an encoded-word, with a CRLF-forged line in it. */
const SUBJECTS = [wire(`raw ${ESCAPES}`), `=?utf-8?B?${Buffer.from(`encoded ${ESCAPES}\r\npoplift: forged ok`).toString('base64')}?=`];

describeIntegration('server and message text with terminal escapes', () => {
  let dovecot: Dovecot;
  let pop3: ScriptedPop3;
  let users = 0;
  const proxies: TcpProxy[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'poplift-injection-'));

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    pop3 = await startScriptedPop3({
      messages: SUBJECTS.map((s, i) => message(i, s)),
      // A C1 CSI and ESC in UIDLs, one with a line break that would forge a line.
      uidlOf: (n) => (n === 1 ? '\x9b31mU\x1b[2J' : 'u2\rpoplift: forged ok'),
      capa: ['USER', 'UIDL', 'TOP', 'PIPELINING'],
      user: 'alice',
      password: 'pw',
    });
  });
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await pop3?.close();
    await dovecot?.stop();
  });

  async function proxied(rewrite: Rewrite): Promise<number> {
    const proxy = await rewritingProxy(dovecot.ports.imap, rewrite);
    proxies.push(proxy);
    return proxy.port;
  }

  function run(command: 'migrate' | 'verify', imapPort: number, user: DovecotUser, ...extra: string[]): Promise<CliResult> {
    return runCli(
      [
        command,
        `pop3://alice@127.0.0.1:${pop3.port}`,
        `imap://${user.name}@127.0.0.1:${imapPort}`,
        '--folder',
        'Moved',
        '--timeout',
        '20',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: 'pw', POPLIFT_IMAP_PASSWORD: user.password, POPLIFT_STATE_DIR: dir },
    );
  }

  const newUser = () => dovecot.addUser(`u${++users}`);

  it('a LOGIN NO with escapes: exit 3, one clean line on stderr, clean --log-file and --json', async () => {
    const port = await proxied((line, verbOf) => {
      const tag = line.split(' ')[0]!;
      return verbOf(tag) === 'LOGIN' ? `${tag} NO [AUTHENTICATIONFAILED] ${wire(ESCAPES)}` : line;
    });
    for (const json of [false, true]) {
      const log = join(dir, `login-${json}.log`);
      const r = await run('migrate', port, newUser(), '--log-file', log, ...(json ? ['--json'] : []));
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      // The server's words are there, shown, not obeyed.
      expect(r.stderr).toContain('\\x1b]52;c;');
      expect(r.stderr).toContain('\\x9b31m');
      expectAllClean(r, log);
      if (json) expect((JSON.parse(r.stdout) as { error: { message: string } }).error.message).toContain('\x1b]52;c;');
    }
  });

  it('verify --folder <missing>: folder names with a CRLF-forged line and escapes, listed on one clean line', async () => {
    const name = `Evil\r\npoplift: verify forged: all there; ok ${ESCAPES}`;
    const bytes = Buffer.from(name, 'utf8');
    const port = await proxied((line, verbOf) => {
      const tag = line.split(' ')[0]!;
      // A literal folder name (RFC 3501 allows one in a LIST response) added to every LIST answer.
      if (verbOf(tag) === 'LIST' && / OK /.test(line)) return `* LIST () "." {${bytes.length}}\r\n${bytes.toString('latin1')}\r\n${line}`;
      return line;
    });
    const r = await run('verify', port, newUser());
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/does not exist/);
    expect(r.stderr).toContain('\\x0d\\x0apoplift: verify forged');
    expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
    expectAllClean(r, undefined);
  });

  it('verify: MISSING lines with hostile UIDLs and Subjects stay one line each, also in --json', async () => {
    const user = newUser();
    const port = await proxied((line) => line);
    for (const json of [false, true]) {
      // INBOX exists and is empty: every POP3 message is missing.
      const r = await run('verify', port, user, '--folder', 'INBOX', ...(json ? ['--json'] : []));
      expect(r.code, r.stderr).toBe(1);
      expectAllClean(r, undefined);
      if (!json) {
        const missing = r.stderr.split('\n').filter((l) => l.startsWith('MISSING'));
        expect(missing, r.stderr).toHaveLength(2);
        expect(r.stderr).toContain('\\x9b31mU\\x1b[2J');
        // The Subject is quoted as a JSON string.
        expect(r.stderr).toContain('"encoded \\u001b]52;c;');
      } else {
        const report = JSON.parse(r.stdout) as { problems: Array<{ uidl: string; subject: string }> };
        // --json keeps the exact text, escaped: a script gets the bytes back.
        // The scripted server writes U+009B as UTF-8 (C2 9B); a UIDL is kept as the bytes sent, one character each.
        expect(report.problems.map((p) => p.uidl)).toEqual(['\u00c2\u009b31mU\x1b[2J', 'u2\rpoplift: forged ok']);
        expect(report.problems[1]!.subject).toContain('\x1b]52;c;');
      }
    }
  });

  it('migrate: APPEND refused with escapes; the failed list and the summary stay clean, also in --json', async () => {
    const port = await proxied((line, verbOf) => {
      const tag = line.split(' ')[0]!;
      return verbOf(tag) === 'APPEND' && / OK /.test(line) ? `${tag} NO ${wire(ESCAPES)}` : line;
    });
    for (const json of [false, true]) {
      const log = join(dir, `append-${json}.log`);
      const r = await run('migrate', port, newUser(), '--log-file', log, '--no-multiappend', ...(json ? ['--json'] : []));
      expect(r.code, r.stderr).toBe(1);
      expectAllClean(r, log);
      if (!json) expect(r.stderr).toContain('\\x9b31mU\\x1b[2J');
    }
  });

  it('--debug: a greeting with escapes is traced clean', async () => {
    const port = await proxied((line) => (line.startsWith('* OK') ? `* OK ${wire(ESCAPES)}` : line));
    const log = join(dir, 'debug.log');
    const r = await run('migrate', port, newUser(), '--debug', '--log-file', log, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('\\x1b]0;pwned');
    expectAllClean(r, log);
  });
});
