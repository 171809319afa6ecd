/**
 * The upload connection before login, against tiny scripted servers: a real
 * IMAP server always greets, so these cases need one that does not.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode, PopliftError } from '../../src/errors.js';
import { ImapAppendChannel, type ImapLogin } from '../../src/imap/imap-append-channel.js';

const servers: Server[] = [];
const sockets: Socket[] = [];

async function scripted(onConnect: (socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onConnect(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const login = (port: number): ImapLogin => ({
  host: '127.0.0.1',
  port,
  tls: 'starttls',
  allowPlaintext: true,
  user: 'alice',
  password: 'secret',
  tlsOptions: {},
  timeoutMs: 300,
});

describe('ImapAppendChannel before login', () => {
  it('gives up on a server that never greets, after the idle timeout', async () => {
    const port = await scripted(() => undefined);
    const started = performance.now();
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({ code: 'IMAP_TIMEOUT', side: 'IMAP' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('reports a server that closes before greeting', async () => {
    const port = await scripted((socket) => socket.end());
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({ code: 'IMAP_CONNECTION_LOST', side: 'IMAP' });
  });

  it('reports a refused connection as such, not as a failure of its own cleanup', async () => {
    const port = await scripted(() => undefined);
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({
      code: 'IMAP_CONNECT',
      side: 'IMAP',
      message: expect.stringMatching(/refused the connection \(ECONNREFUSED\)/),
    });
  });

  it('refuses a server that is not IMAP', async () => {
    const port = await scripted((socket) => socket.write('+OK POP3 server ready\r\n'));
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({
      code: 'IMAP_GREETING',
      exitCode: ExitCode.CONNECT,
      message: expect.stringMatching(/did not greet as an IMAP server/),
    });
  });
});

/**
 * A scripted IMAP server after login: answers each command line with
 * `answer(tag, command)`, which returns the raw bytes to send (line ends included).
 */
function imapServer(greeting: string, answer: (tag: string, command: string, socket: Socket) => string | undefined): Promise<number> {
  return scripted((socket) => {
    socket.write(greeting);
    let buffered = Buffer.alloc(0);
    let literal = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (literal > 0) {
          const skip = Math.min(literal, buffered.length);
          buffered = buffered.subarray(skip);
          literal -= skip;
          if (literal > 0) return;
        }
        const eol = buffered.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffered.subarray(0, eol).toString('latin1');
        buffered = buffered.subarray(eol + 2);
        const lit = /\{(\d+)\+?\}$/.exec(line);
        if (lit) literal = Number(lit[1]);
        const [tag = '', command = ''] = line.split(' ');
        const reply = answer(tag, command.toUpperCase(), socket);
        // A synchronizing literal refused before '+' is never sent.
        if (lit && !lit[0].includes('+') && reply !== undefined && !reply.startsWith('+')) literal = 0;
        if (reply !== undefined) socket.write(reply);
      }
    });
  });
}

const message = Buffer.from('From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n');

describe('ImapAppendChannel line ends', () => {
  // GNU Mailutils ends its AUTHENTICATE PLAIN reply with a bare LF.
  it('takes a bare LF as the end of a server line', async () => {
    let authTag = '';
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LITERAL+] ready\r\n', (tag, command) => {
      if (command === 'AUTHENTICATE') {
        authTag = tag;
        return '+ \r\n';
      }
      // The base64 SASL response comes alone on its line: it has no command word.
      if (command === '') return `${authTag} OK [CAPABILITY IMAP4rev1 LITERAL+] Authentication successful\n`;
      if (command === 'APPEND') return `${tag} OK APPEND completed\n`;
      if (command === 'LOGOUT') return `* BYE Session terminating.\n${tag} OK LOGOUT completed\n`;
      return `${tag} BAD unexpected\r\n`;
    });
    const channel = await ImapAppendChannel.open({ ...login(port), timeoutMs: 2000 });
    try {
      const outcomes = await channel.append('INBOX', [{ content: message, flags: [], date: undefined }], false);
      expect(outcomes).toEqual([{ ok: true, uid: undefined, uidValidity: undefined }]);
    } finally {
      await channel.logout();
    }
  });
});

/** Writes `total` bytes of 'x' in 64 KiB pieces, waiting for each to drain, so the server holds no more than one piece. */
async function writeFlood(socket: Socket, total: number): Promise<void> {
  const piece = Buffer.alloc(64 * 1024, 'x');
  for (let sent = 0; sent < total && !socket.destroyed; sent += piece.length) {
    if (!socket.write(piece)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

describe('ImapAppendChannel against a server sending a huge line', () => {
  it('fails the connection past 1 MiB with bounded CPU and memory', async () => {
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+] ready\r\n', (tag, command, socket) => {
      if (command === 'AUTHENTICATE') return `${tag} OK [CAPABILITY IMAP4rev1 LITERAL+] Logged in\r\n`;
      if (command === 'APPEND') {
        socket.write('* OK ');
        void writeFlood(socket, 60 * 1024 * 1024).then(() => socket.write(`\r\n${tag} OK APPEND completed\r\n`));
        return undefined;
      }
      return `${tag} OK done\r\n`;
    });
    const channel = await ImapAppendChannel.open({ ...login(port), timeoutMs: 30_000 });
    try {
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);
      const cpuBefore = process.cpuUsage();
      const outcome = await channel.append('INBOX', [{ content: message, flags: [], date: undefined }], false).then(
        () => undefined,
        (err: unknown) => err,
      );
      clearInterval(sampler);
      const cpu = process.cpuUsage(cpuBefore);
      expect(outcome).toMatchObject({ side: 'IMAP', code: 'IMAP_PROTOCOL', message: expect.stringMatching(/line longer than 1 MiB/) });
      // Before the cap: 16 s of CPU and the whole line (and copies of it) held in memory.
      expect((cpu.user + cpu.system) / 1e6).toBeLessThan(3);
      expect((rssPeak - rssBefore) / 2 ** 20).toBeLessThan(40);
    } finally {
      channel.close();
    }
  });
});

describe('ImapAppendChannel refused as one connection too many', () => {
  it('is a connection failure (exit 4, retried), not a wrong password', async () => {
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+] ready\r\n', (tag, command) =>
      command === 'AUTHENTICATE' ? `${tag} NO [ALERT] Too many simultaneous connections. (Failure)\r\n` : `${tag} BAD unexpected\r\n`,
    );
    await expect(ImapAppendChannel.open(login(port))).rejects.toMatchObject({ side: 'IMAP', code: 'IMAP_CONNECT', exitCode: 4 });
  });
});

describe('ImapAppendChannel with synchronizing literals', () => {
  it('a command refused before its "+" does not take the next command\'s "+"', async () => {
    let appends = 0;
    let appendTag = '';
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\r\n', (tag, command) => {
      if (command === 'AUTHENTICATE') return `${tag} OK [CAPABILITY IMAP4rev1] Logged in\r\n`;
      if (command === 'APPEND') {
        appendTag = tag;
        return ++appends === 1 ? `${tag} NO [TOOBIG] Message too large\r\n` : '+ go ahead\r\n';
      }
      // The empty line after a literal ends the APPEND: only now may it be answered.
      if (tag === '' && command === '') return `${appendTag} OK APPEND completed\r\n`;
      return `${tag} OK done\r\n`;
    });
    const channel = await ImapAppendChannel.open({ ...login(port), timeoutMs: 2000 });
    try {
      const item = { content: message, flags: [], date: undefined };
      const first = await channel.append('INBOX', [item], false);
      expect(first[0]).toMatchObject({ ok: false, code: 'TOOBIG' });
      // Before: the refused command's continuation took this '+', and this literal was never sent.
      const second = await channel.append('INBOX', [item], false);
      expect(second).toEqual([{ ok: true, uid: undefined, uidValidity: undefined }]);
      expect(appends).toBe(2);
    } finally {
      channel.close();
    }
  });
});

describe('ImapAppendChannel and a MULTIAPPEND refused after part of it was stored', () => {
  const items = [1, 2, 3].map((i) => ({
    content: Buffer.from(`From: a@example.org\r\nSubject: number ${i}\r\n\r\nbody ${i}\r\n`),
    flags: [] as string[],
    date: undefined,
  }));

  /** A server whose first (multi) APPEND stores `stored` of its messages and answers NO; it logs every command. */
  async function partialServer(stored: number): Promise<{ port: number; commands: string[] }> {
    const commands: string[] = [];
    const appendTags: string[] = [];
    let uidNext = 10;
    let multiDone = false;
    const port = await imapServer(
      '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ MULTIAPPEND UNSELECT] ready\r\n',
      (tag, command) => {
        if (command === 'AUTHENTICATE') return `${tag} OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UNSELECT] Logged in\r\n`;
        if (tag === '' && command !== '') return undefined;
        if (command !== '') commands.push(command);
        if (command === 'STATUS') return `* STATUS INBOX (UIDNEXT ${uidNext})\r\n${tag} OK done\r\n`;
        if (command === 'APPEND') {
          appendTags.push(tag);
          return undefined;
        }
        if (tag === '' && command === '') {
          const appendTag = appendTags.shift()!;
          if (!multiDone) {
            multiDone = true;
            uidNext += stored;
            return `${appendTag} NO [SERVERBUG] Internal error\r\n`;
          }
          return `${appendTag} OK [APPENDUID 7 ${uidNext++}] done\r\n`;
        }
        if (command === 'EXAMINE') return `* OK [UIDVALIDITY 7] UIDs valid\r\n${tag} OK [READ-ONLY] done\r\n`;
        if (command === 'UID') {
          // The header literal first and UID last: the order of FETCH items is the server's.
          const header = 'From: a@example.org\r\nSubject: number 1\r\n\r\n';
          const fetched = Array.from(
            { length: stored },
            (_, i) =>
              `* ${i + 1} FETCH (BODY[HEADER]<0> {${header.length}}\r\n${header.replace('number 1', `number ${i + 1}`)} RFC822.SIZE ${items[i]!.content.length} UID ${10 + i})\r\n`,
          ).join('');
          return `${fetched}${tag} OK done\r\n`;
        }
        return `${tag} OK done\r\n`;
      },
    );
    return { port, commands };
  }

  it('reports the stored ones under their UIDs and sends only the others again', async () => {
    const { port, commands } = await partialServer(1);
    const channel = await ImapAppendChannel.open({ ...login(port), timeoutMs: 2000 });
    try {
      const outcomes = await channel.append('INBOX', items, true);
      expect(outcomes).toEqual([
        { ok: true, uid: 10, uidValidity: 7n },
        { ok: true, uid: 11, uidValidity: 7n },
        { ok: true, uid: 12, uidValidity: 7n },
      ]);
      // Before: all three were sent again, the first one a second time.
      expect(commands.filter((c) => c === 'APPEND')).toHaveLength(3);
      expect(commands).toContain('EXAMINE');
    } finally {
      channel.close();
    }
  });

  it('looks nothing up when UIDNEXT did not move across the refused batch', async () => {
    const { port, commands } = await partialServer(0);
    const channel = await ImapAppendChannel.open({ ...login(port), timeoutMs: 2000 });
    try {
      const outcomes = await channel.append('INBOX', items, true);
      expect(outcomes.map((o) => o.ok)).toEqual([true, true, true]);
      expect(commands.filter((c) => c === 'APPEND')).toHaveLength(4);
      expect(commands).not.toContain('EXAMINE');
    } finally {
      channel.close();
    }
  });
});

/**
 * A server without LITERAL+ that, like Courier-IMAP (which never sets
 * TCP_NODELAY), holds its '+' for a command that arrived together with the
 * previous literal until the client acknowledges the previous tagged reply:
 * the client's delayed ACK, about 40 ms on Linux, for every message. `holdMs`
 * 0 is a server that answers at once.
 */
async function continuationServer(holdMs: number): Promise<{ port: number; pipelined: () => number; literals: Buffer[] }> {
  let pipelined = 0;
  const literals: Buffer[] = [];
  const port = await scripted((socket) => {
    // The holding is scripted below; the kernel must not add its own.
    socket.setNoDelay(true);
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS] ready\r\n');
    let buffered = Buffer.alloc(0);
    let literal = -1;
    let appendTag = '';
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Set once a tagged reply went out while handling this chunk: a command line behind it was sent before the client saw that reply.
      let repliedNow = false;
      for (;;) {
        if (literal >= 0) {
          if (buffered.length < literal + 2) return;
          literals.push(Buffer.from(buffered.subarray(0, literal)));
          buffered = buffered.subarray(literal + 2);
          literal = -1;
          socket.write(`${appendTag} OK [APPENDUID 7 ${literals.length}] APPEND completed\r\n`);
          repliedNow = true;
          continue;
        }
        const eol = buffered.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffered.subarray(0, eol).toString('latin1');
        buffered = buffered.subarray(eol + 2);
        const [tag = '', command = ''] = line.split(' ');
        const lit = /\{(\d+)\}$/.exec(line);
        if (command.toUpperCase() === 'APPEND' && lit) {
          appendTag = tag;
          literal = Number(lit[1]);
          if (repliedNow) {
            pipelined++;
            if (holdMs > 0) {
              setTimeout(() => socket.write('+ OK\r\n'), holdMs);
              continue;
            }
          }
          socket.write('+ OK\r\n');
          continue;
        }
        if (command.toUpperCase() === 'AUTHENTICATE') socket.write(`${tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n`);
        else if (command.toUpperCase() === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK LOGOUT completed\r\n`);
        else socket.write(`${tag} OK done\r\n`);
      }
    });
  });
  return { port, pipelined: () => pipelined, literals };
}

describe('ImapAppendChannel and a server that holds its "+" behind the previous reply', () => {
  const items = Array.from({ length: 20 }, (_, i) => ({
    content: Buffer.from(`From: a@example.org\r\nSubject: number ${i}\r\n\r\n${'x'.repeat(100 * i)}\r\n`),
    flags: [] as string[],
    date: undefined,
  }));

  it('stops sending the next APPEND with the previous literal once the "+" keeps coming late', async () => {
    const server = await continuationServer(60);
    const channel = await ImapAppendChannel.open({ ...login(server.port), timeoutMs: 5000 });
    try {
      const outcomes = await channel.append('INBOX', items, false);
      expect(outcomes.map((o) => o.ok && o.uid)).toEqual(items.map((_, i) => i + 1));
      expect(server.literals).toEqual(items.map((i) => i.content));
      // Before: all 19 went out behind the previous literal, each waiting 60 ms.
      expect(server.pipelined()).toBeLessThanOrEqual(4);
    } finally {
      await channel.logout();
    }
  });

  it('keeps sending the next APPEND with the previous literal while the "+" comes at once', async () => {
    const server = await continuationServer(0);
    const channel = await ImapAppendChannel.open({ ...login(server.port), timeoutMs: 5000 });
    try {
      const outcomes = await channel.append('INBOX', items, false);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect(server.literals).toEqual(items.map((i) => i.content));
      expect(server.pipelined()).toBe(items.length - 1);
    } finally {
      await channel.logout();
    }
  });
});

describe('ImapAppendChannel and data injected after the STARTTLS answer (issue 20 item 8)', () => {
  const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

  /**
   * Answers STARTTLS with `OK Begin TLS` plus `injected` in the same write, then
   * speaks TLS: CAPABILITY lists AUTH=PLAIN, and every login is recorded.
   */
  async function startTlsServer(injected: string): Promise<{ port: number; logins: string[] }> {
    const logins: string[] = [];
    const context = createSecureContext({ key: fixture('tls-server-key.pem'), cert: fixture('tls-server.pem') });
    const port = await scripted((plain) => {
      plain.write('* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n');
      const serve = (socket: Socket, secure: boolean): void => {
        let buffered = '';
        const onData = (chunk: Buffer): void => {
          buffered += chunk.toString('latin1');
          for (let eol = buffered.indexOf('\r\n'); eol >= 0; eol = buffered.indexOf('\r\n')) {
            const line = buffered.slice(0, eol);
            buffered = buffered.slice(eol + 2);
            const [tag = '', command = ''] = line.split(' ');
            const verb = command.toUpperCase();
            if (!secure && verb === 'STARTTLS') {
              socket.off('data', onData);
              socket.write(`${tag} OK Begin TLS negotiation now\r\n${injected}`);
              const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
              tls.on('error', () => undefined);
              sockets.push(tls);
              serve(tls, true);
              return;
            }
            if (verb === 'LOGIN' || verb === 'AUTHENTICATE') logins.push(verb);
            if (verb === 'CAPABILITY') socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\n${tag} OK done\r\n`);
            else if (verb === 'LOGOUT') socket.write(`* BYE bye\r\n${tag} OK done\r\n`);
            else if (verb === 'CAPABILITY' || verb === 'LOGIN' || verb === 'AUTHENTICATE' || verb === 'ID')
              socket.write(`${tag} OK done\r\n`);
            else socket.write(`${tag} BAD unexpected\r\n`);
          }
        };
        socket.on('data', onData);
      };
      serve(plain, false);
    });
    return { port, logins };
  }

  const tlsLogin = (port: number): ImapLogin => ({
    ...login(port),
    allowPlaintext: false,
    tlsOptions: { ca: fixture('tls-ca.pem') },
    timeoutMs: 2000,
  });

  it('logs in with AUTHENTICATE PLAIN when nothing was injected', async () => {
    const server = await startTlsServer('');
    const channel = await ImapAppendChannel.open(tlsLogin(server.port));
    await channel.logout();
    expect(server.logins).toEqual(['AUTHENTICATE']);
  });

  // The partial line used to be joined to the first line read over TLS: "U2 OK injected* CAPABILITY …"
  // answered CAPABILITY with no capabilities, and the login fell back to LOGIN.
  it.each(['U2 OK injected', '* OK injected\r\n', '* OK injected\r\nU2 OK x'])(
    'refuses the connection after %j, before any login',
    async (injected) => {
      const server = await startTlsServer(injected);
      const err = await ImapAppendChannel.open(tlsLogin(server.port)).then(
        () => undefined,
        (e: unknown) => e as PopliftError,
      );
      expect(err).toMatchObject({ code: 'IMAP_TLS', side: 'IMAP', exitCode: ExitCode.CONNECT });
      expect(err!.message).toContain(`IMAP server 127.0.0.1:${server.port}`);
      expect(err!.message).toMatch(/sent data after its STARTTLS answer/);
      expect(server.logins).toEqual([]);
    },
  );
});

describe('ImapAppendChannel LOGIN with a password a quoted string cannot carry (issue 20 item 9)', () => {
  const PASSWORD = 'p%41%"q" \\ é€-ß';

  /** Offers no AUTH=PLAIN, so the channel uses LOGIN; records the LOGIN command's bytes as sent. */
  async function loginServer(capabilities: string): Promise<{ port: number; received: () => Buffer }> {
    const chunks: Buffer[] = [];
    const port = await scripted((socket) => {
      socket.write(`* OK [CAPABILITY IMAP4rev1 ${capabilities}] ready\r\n`);
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        text += chunk.toString('latin1');
        // A synchronizing literal is sent once '+' asks for it.
        if (/LOGIN alice \{\d+\}\r\n$/.test(text)) socket.write('+ go ahead\r\n');
        if (/\r\n$/.test(text) && !/\{\d+\}\r\n$/.test(text) && /LOGIN/.test(text) && !text.includes('LOGOUT')) {
          socket.write('U1 OK [CAPABILITY IMAP4rev1] Logged in\r\n');
          text = 'done ';
        }
        if (/U\d+ LOGOUT\r\n$/.test(text)) socket.write(`* BYE\r\n${/(U\d+) LOGOUT/.exec(text)![1]} OK bye\r\n`);
      });
    });
    return { port, received: () => Buffer.concat(chunks) };
  }

  it.each([
    ['LITERAL+', `U1 LOGIN alice {${Buffer.byteLength(PASSWORD)}+}\r\n`],
    ['', `U1 LOGIN alice {${Buffer.byteLength(PASSWORD)}}\r\n`],
  ])('with capabilities %j: the password goes as a literal of its UTF-8 bytes', async (caps, head) => {
    const server = await loginServer(caps);
    const channel = await ImapAppendChannel.open({ ...login(server.port), password: PASSWORD, timeoutMs: 2000 });
    await channel.logout();
    const sent = server.received();
    const login1 = sent.subarray(0, sent.indexOf('\r\n', sent.indexOf(Buffer.from(PASSWORD, 'utf8'))) + 2);
    expect(login1.toString('latin1')).toBe(Buffer.from(`${head}${PASSWORD}\r\n`, 'utf8').toString('latin1'));
  });

  it('an ASCII password with quotes and a backslash still goes as a quoted string', async () => {
    const server = await loginServer('LITERAL+');
    const channel = await ImapAppendChannel.open({ ...login(server.port), password: 'a"b\\c d', timeoutMs: 2000 });
    await channel.logout();
    expect(server.received().toString('latin1')).toContain('U1 LOGIN alice "a\\"b\\\\c d"\r\n');
  });
});

/**
 * A MULTIAPPEND server (LITERAL+) that keeps every command's literals, stores
 * the first message of the first APPEND and answers it NO (as a server that
 * breaks RFC 3502's all-or-nothing does), and stops reading for `pauseMs`
 * when the second APPEND begins, so the client is still writing that
 * literal when the NO makes it look the first batch up.
 */
async function multiAppendServer(
  pauseMs: number,
  onCommand: (verb: string) => void = () => undefined,
): Promise<{ port: number; commands: string[]; appended: Buffer[][] }> {
  const commands: string[] = [];
  const appended: Buffer[][] = [];
  let uidNext = 10;
  const port = await scripted((socket) => {
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ MULTIAPPEND UIDPLUS UNSELECT] ready\r\n');
    let buffered = Buffer.alloc(0);
    let literalLeft = 0;
    let command: { line: string; literals: Buffer[] } | undefined;
    let literalParts: Buffer[] = [];
    const answer = (tag: string, verb: string, literals: Buffer[]): string => {
      if (verb === 'AUTHENTICATE') return `${tag} OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS UNSELECT] Logged in\r\n`;
      if (verb === 'STATUS') return `* STATUS INBOX (UIDNEXT ${uidNext})\r\n${tag} OK done\r\n`;
      if (verb === 'APPEND') {
        appended.push(literals);
        if (appended.length === 1) {
          uidNext++;
          return `${tag} NO [SERVERBUG] Internal error\r\n`;
        }
        const first = uidNext;
        uidNext += literals.length;
        return `${tag} OK [APPENDUID 7 ${first}:${uidNext - 1}] done\r\n`;
      }
      if (verb === 'EXAMINE') return `* OK [UIDVALIDITY 7] UIDs valid\r\n${tag} OK [READ-ONLY] done\r\n`;
      if (verb === 'UID') {
        const stored = appended[0]![0]!;
        const header = stored.subarray(0, stored.indexOf('\r\n\r\n') + 4).toString('latin1');
        return `* 1 FETCH (UID 10 RFC822.SIZE ${stored.length} BODY[HEADER]<0> {${header.length}}\r\n${header})\r\n${tag} OK done\r\n`;
      }
      return `${tag} OK done\r\n`;
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length > 0) {
        if (literalLeft > 0) {
          const take = Math.min(literalLeft, buffered.length);
          literalParts.push(buffered.subarray(0, take));
          buffered = buffered.subarray(take);
          literalLeft -= take;
          if (literalLeft === 0) {
            command!.literals.push(Buffer.concat(literalParts));
            literalParts = [];
          }
          continue;
        }
        const eol = buffered.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffered.subarray(0, eol).toString('latin1');
        buffered = buffered.subarray(eol + 2);
        const startsCommand = command === undefined;
        command ??= { line, literals: [] };
        if (startsCommand) {
          commands.push(line.split(' ')[1]?.toUpperCase() ?? '');
          onCommand(commands.at(-1)!);
          if (/^\S+ APPEND /i.test(line) && appended.length === 1 && pauseMs > 0) {
            // Reading stops: the client's writes of this literal back up behind the kernel's buffers.
            socket.pause();
            setTimeout(() => socket.resume(), pauseMs);
          }
        }
        const lit = /\{(\d+)\+?\}$/.exec(line);
        if (lit) {
          literalLeft = Number(lit[1]);
          continue;
        }
        const [tag = '', verb = ''] = command.line.split(' ');
        const literals = command.literals;
        command = undefined;
        socket.write(answer(tag, verb.toUpperCase(), literals));
      }
    };
    socket.on('data', onData);
  });
  return { port, commands, appended };
}

describe('ImapAppendChannel looking up a refused batch while other batches go out', () => {
  const item = (subject: string, content = 'body') => ({
    content: Buffer.from(`From: a@example.org\r\nSubject: ${subject}\r\n\r\n${content}\r\n`),
    flags: [] as string[],
    date: undefined,
  });

  it('sends the lookup after the literal being written, not inside it', async () => {
    const server = await multiAppendServer(500);
    const first = [item('one'), item('two')];
    // Written in several slices, with waits for the socket between them.
    const second = [item('big', 'y'.repeat(16 * 1024 * 1024)), item('three')];
    const channel = await ImapAppendChannel.open({ ...login(server.port), timeoutMs: 3000 });
    try {
      const started = performance.now();
      const [a, b] = await Promise.all([channel.append('INBOX', first, true), channel.append('INBOX', second, true)]);
      // Before: the EXAMINE went out inside the big literal, which the server took as message bytes;
      // its answer never came, and the connection ended at the idle timeout.
      expect(a).toEqual([
        { ok: true, uid: 10, uidValidity: 7n },
        { ok: true, uid: 13, uidValidity: 7n },
      ]);
      expect(b.map((o) => o.ok)).toEqual([true, true]);
      expect(server.appended[1]!.map((l) => l.equals(second[0]!.content) || l.equals(second[1]!.content))).toEqual([true, true]);
      expect(server.commands).toContain('EXAMINE');
      expect(performance.now() - started).toBeLessThan(2500);
    } finally {
      channel.close();
    }
  });

  it('sends no other batch while the folder is selected for the lookup', async () => {
    let later: Promise<unknown> | undefined;
    let channel: ImapAppendChannel | undefined;
    const server = await multiAppendServer(0, (verb) => {
      // A batch the engine hands over while the lookup runs.
      if (verb === 'EXAMINE') later = channel!.append('INBOX', [item('four'), item('five')], true);
    });
    channel = await ImapAppendChannel.open({ ...login(server.port), timeoutMs: 3000 });
    try {
      await channel.append('INBOX', [item('one'), item('two')], true);
      await later;
      const examine = server.commands.indexOf('EXAMINE');
      // Before: the next batch's STATUS went out under the EXAMINE, and a server answers it from
      // the session's view of the selected folder, which misses UIDs another batch got.
      expect(server.commands.slice(examine)).toEqual(['EXAMINE', 'UID', 'UNSELECT', 'STATUS', 'APPEND', 'STATUS', 'APPEND']);
    } finally {
      channel.close();
    }
  });
});

/** Writes `text` one byte every `everyMs` until the socket closes (a server that never finishes its line). */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<void> {
  for (let i = 0; !socket.destroyed; i = (i + 1) % text.length) {
    socket.write(text[i]!);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The error `promise` rejects with, and after how many ms; fails when it takes longer than 8 s. */
async function failure(promise: Promise<unknown>): Promise<{ err: PopliftError; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => new Error('resolved'),
      (err: unknown) => err,
    ),
    new Promise((resolve) => (timer = setTimeout(() => resolve(new Error('still waiting after 8 s')), 8000))),
  ]);
  clearTimeout(timer);
  expect(outcome).toBeInstanceOf(PopliftError);
  return { err: outcome as PopliftError, ms: performance.now() - started };
}

describe('ImapAppendChannel: every exchange has a deadline', () => {
  // One byte every 200 ms never lets a 1 s idle timeout fire: before, each of these waited forever.
  const slow = (port: number): ImapLogin => ({ ...login(port), timeoutMs: 1000 });

  it('a greeting trickled one byte at a time fails at the deadline (exit 4, naming server and step)', async () => {
    const port = await scripted((socket) => void trickle(socket, '* OK slooooow', 200));
    const { err, ms } = await failure(ImapAppendChannel.open(slow(port)));
    expect(err).toMatchObject({ side: 'IMAP', code: 'IMAP_CONNECT', exitCode: 4 });
    expect(err.message).toMatch(new RegExp(`^IMAP server 127\\.0\\.0\\.1:${port} did not finish its greeting within 2 s`));
    expect(ms).toBeLessThan(5000);
  });

  it('a login answer trickled one byte at a time fails at the deadline', async () => {
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\r\n', (tag, command, socket) => {
      if (command === 'AUTHENTICATE') void trickle(socket, '* OK still checking\r\n', 200);
      return undefined;
    });
    const { err, ms } = await failure(ImapAppendChannel.open(slow(port)));
    expect(err).toMatchObject({ side: 'IMAP', code: 'IMAP_TIMEOUT' });
    expect(err.message).toMatch(new RegExp(`^IMAP server 127\\.0\\.0\\.1:${port} did not finish answering AUTHENTICATE within 2 s`));
    expect(err.message).not.toContain('secret');
    expect(ms).toBeLessThan(5000);
  });

  it('an APPEND never answered while "* OK still here" keeps coming fails at the deadline', async () => {
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+] ready\r\n', (tag, command, socket) => {
      if (command === 'AUTHENTICATE') return `${tag} OK [CAPABILITY IMAP4rev1 LITERAL+] Logged in\r\n`;
      if (command === 'APPEND') {
        const timer = setInterval(() => socket.write('* OK still here\r\n'), 200);
        socket.on('close', () => clearInterval(timer));
        return undefined;
      }
      return undefined;
    });
    const channel = await ImapAppendChannel.open(slow(port));
    try {
      const { err, ms } = await failure(channel.append('INBOX', [{ content: message, flags: [], date: undefined }], false));
      expect(err).toMatchObject({ side: 'IMAP', code: 'IMAP_TIMEOUT' });
      expect(err.message).toMatch(new RegExp(`^IMAP server 127\\.0\\.0\\.1:${port} did not finish answering APPEND within 2 s`));
      expect(ms).toBeLessThan(5000);
    } finally {
      channel.close();
    }
  });
});

describe('ImapAppendChannel: the STARTTLS handshake has a deadline', () => {
  it('a server that accepts STARTTLS and then sends nothing fails within twice the timeout', async () => {
    const port = await imapServer('* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR] ready\r\n', (tag, command) =>
      command === 'STARTTLS' ? `${tag} OK Begin TLS negotiation now\r\n` : undefined,
    );
    const started = performance.now();
    const outcome = await Promise.race([
      ImapAppendChannel.open({ ...login(port), timeoutMs: 1000 }).then(
        () => new Error('logged in'),
        (err: unknown) => err,
      ),
      new Promise((resolve) => setTimeout(() => resolve(new Error('still waiting after 8 s')), 8000)),
    ]);
    expect(outcome).toMatchObject({ side: 'IMAP', exitCode: 4 });
    expect((outcome as Error).message).toMatch(
      new RegExp(`^TLS handshake with IMAP server 127\\.0\\.0\\.1:${port} did not finish within 2 s`),
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
