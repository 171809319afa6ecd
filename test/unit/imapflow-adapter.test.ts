/**
 * Each reach past imapflow's public API (src/imap/imapflow-adapter.ts),
 * against a scripted IMAP server that records every command: the override
 * has its effect on the wire (and imapflow alone would do otherwise), and a
 * client whose insides lack what the adapter uses is refused by name.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ImapFlow } from 'imapflow';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ImapFlowInternalsError,
  adaptImapFlow,
  bytesRead,
  execRaw,
  knowFolder,
  unselect,
  withinDeadline,
  type UntaggedTokens,
} from '../../src/imap/imapflow-adapter.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
const clients: ImapFlow[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface Scripted {
  port: number;
  /** Every command line received, without its tag. */
  commands: string[];
  /** Bytes written to the client so far. */
  sent: () => number;
}

/** An IMAP server offering ID and UNSELECT that answers what imapflow and the adapter send. */
async function scriptedServer(): Promise<Scripted> {
  const commands: string[] = [];
  let sent = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    const write = (text: string) => {
      sent += Buffer.byteLength(text);
      socket.write(text);
    };
    write('* OK [CAPABILITY IMAP4rev1 ID UNSELECT AUTH=PLAIN] ready\r\n');
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let eol = buffered.indexOf('\r\n'); eol >= 0; eol = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, eol);
        buffered = buffered.slice(eol + 2);
        const tag = line.slice(0, line.indexOf(' '));
        const command = line.slice(tag.length + 1);
        commands.push(command);
        const verb = command.split(' ')[0]!.toUpperCase();
        if (verb === 'CAPABILITY') write(`* CAPABILITY IMAP4rev1 ID UNSELECT AUTH=PLAIN\r\n${tag} OK done\r\n`);
        else if (verb === 'ID') write(`* ID ("name" "scripted")\r\n${tag} OK done\r\n`);
        else if (verb === 'LIST' || verb === 'LSUB') {
          // The root (`LIST "" ""`) tells the delimiter; any other pattern is answered as a folder of that name.
          const name = command.slice(command.lastIndexOf(' ') + 1);
          write(`* ${verb} (${name === '""' ? '\\Noselect' : ''}) "/" ${name}\r\n${tag} OK done\r\n`);
        } else if (verb === 'SELECT' || verb === 'EXAMINE')
          write(`* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n${tag} OK [READ-WRITE] done\r\n`);
        else if (verb === 'STATUS' && command.includes('Missing')) write(`${tag} NO [NONEXISTENT] no such folder\r\n`);
        else if (verb === 'STATUS') write(`* STATUS Archive (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 7)\r\n${tag} OK done\r\n`);
        else if (verb === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
        else write(`${tag} OK done\r\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, commands, sent: () => sent };
}

function newClient(port: number): ImapFlow {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    auth: { user: 'bob', pass: 'secret', loginMethod: 'LOGIN' },
    logger: false,
    disableAutoIdle: true,
    disableAutoEnable: true,
  });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

const verbs = (commands: string[]) => commands.map((c) => c.split(' ')[0]!.toUpperCase());

describe('imapflow-adapter override 1: bytes received', () => {
  it('counts the bytes the server sent, and nothing before there is a socket', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    expect(bytesRead(client)).toBeUndefined();
    await client.connect();
    await client.noop();
    expect(bytesRead(client)).toBe(server.sent());
  });

  it('refuses a socket without a count, and withinDeadline ends the exchange with that error', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    await client.connect();
    Object.assign(client, { socket: { destroyed: false } });
    expect(() => bytesRead(client)).toThrow(ImapFlowInternalsError);
    expect(() => bytesRead(client)).toThrow(/bytesRead/);
    expect(() => withinDeadline(client, 1000, Promise.resolve(1), () => new Error('late'))).toThrow(ImapFlowInternalsError);
  });
});

describe('imapflow-adapter override 2: no ID', () => {
  it('imapflow alone sends ID around the login', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    await client.connect();
    expect(verbs(server.commands)).toContain('ID');
  });

  it('an adapted client sends none, and logs in', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    adaptImapFlow(client);
    await client.connect();
    await client.noop();
    expect(verbs(server.commands)).not.toContain('ID');
    expect(verbs(server.commands)).toEqual(expect.arrayContaining(['LOGIN', 'NOOP']));
  });
});

describe('imapflow-adapter override 3: UNSELECT', () => {
  it('mailboxClose() sends CLOSE; unselect() sends UNSELECT and leaves the folder', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    adaptImapFlow(client);
    await client.connect();
    await client.mailboxOpen('Archive');
    await client.mailboxClose();
    expect(verbs(server.commands).at(-1)).toBe('CLOSE');
    await client.mailboxOpen('Archive');
    expect(client.mailbox).not.toBe(false);
    await unselect(client);
    expect(verbs(server.commands).at(-1)).toBe('UNSELECT');
    expect(client.mailbox).toBe(false);
  });
});

describe('imapflow-adapter override 4: raw commands', () => {
  it('sends the command as given, hands its untagged answers over, and releases the queue', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    adaptImapFlow(client);
    await client.connect();
    const seen: UntaggedTokens[] = [];
    await execRaw(
      client,
      'STATUS',
      [
        { type: 'ATOM', value: 'Archive' },
        [
          { type: 'ATOM', value: 'MESSAGES' },
          { type: 'ATOM', value: 'UIDNEXT' },
        ],
      ],
      { STATUS: (untagged) => seen.push(untagged) },
    );
    expect(server.commands.at(-1)).toBe('STATUS Archive (MESSAGES UIDNEXT)');
    const list = seen[0]?.attributes?.[1] as Array<{ value: string }>;
    expect(list.map((t) => t.value)).toEqual(['MESSAGES', '3', 'UIDNEXT', '9', 'UIDVALIDITY', '7']);
    // The next command goes out: exec() held the queue until released.
    await withinDeadline(client, 1000, client.noop(), () => new Error('the queue was not released'));
    expect(verbs(server.commands).at(-1)).toBe('NOOP');
  });

  it('rejects a NO with imapflow’s responseStatus', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    adaptImapFlow(client);
    await client.connect();
    await expect(
      execRaw(client, 'STATUS', [{ type: 'ATOM', value: 'Missing' }, [{ type: 'ATOM', value: 'UIDNEXT' }]]),
    ).rejects.toMatchObject({
      responseStatus: 'NO',
    });
  });
});

describe('imapflow-adapter override 5: known folders', () => {
  it('imapflow alone LISTs a folder before selecting it; once told of it, it does not', async () => {
    const server = await scriptedServer();
    const client = newClient(server.port);
    adaptImapFlow(client);
    await client.connect();
    let before = server.commands.length;
    await client.mailboxOpen('Archive');
    const unknown = verbs(server.commands.slice(before));
    expect(unknown).toContain('LIST');
    expect(unknown.at(-1)).toBe('SELECT');
    await unselect(client);
    knowFolder(client, 'Other', '/');
    before = server.commands.length;
    await client.mailboxOpen('Other');
    expect(verbs(server.commands.slice(before))).toEqual(['SELECT']);
  });
});

describe('imapflow-adapter: a client whose insides changed shape', () => {
  const port = 1;
  const broken: Array<[string, (client: ImapFlow) => void, RegExp]> = [
    ['run', (c) => Object.assign(c, { run: undefined }), /run\(\)/],
    ['exec', (c) => Object.assign(c, { exec: 'gone' }), /exec\(\)/],
    ['commands', (c) => Object.assign(c, { commands: new Map() }), /command table/],
    ['folders', (c) => Object.assign(c, { folders: {} }), /folders Map/],
    ['socket', (c) => delete (c as unknown as { socket?: unknown }).socket, /socket property/],
  ];
  for (const [what, breakIt, message] of broken) {
    it(`is refused by name when ${what} is missing`, () => {
      const client = newClient(port);
      breakIt(client);
      expect(() => adaptImapFlow(client)).toThrow(ImapFlowInternalsError);
      expect(() => adaptImapFlow(client)).toThrow(message);
    });
  }

  it('knowFolder, unselect and execRaw refuse it too, instead of doing nothing', async () => {
    const client = newClient(port);
    Object.assign(client, { folders: undefined });
    expect(() => knowFolder(client, 'Archive', '/')).toThrow(ImapFlowInternalsError);
    expect(() => unselect(client)).toThrow(ImapFlowInternalsError);
    await expect(execRaw(client, 'NOOP', [])).rejects.toThrow(ImapFlowInternalsError);
  });

  it('accepts the imapflow package.json pins', () => {
    expect(() => adaptImapFlow(newClient(port))).not.toThrow();
  });
});
