/**
 * Gmail's POP3 as a scripted server: each session lists only the `window`
 * oldest messages not downloaded yet; a message counts as downloaded once it
 * was RETRieved in a session that ended with a clean QUIT (a dropped session
 * marks nothing). TOP does not count. The user name `recent:alice` lists the
 * recent messages (the last `recent` of the mailbox) whether downloaded or
 * not. UIDLs are stable across sessions. Built on startScriptedPop3.
 */
import { multiLineReply, startScriptedPop3, type ScriptContext, type ScriptedPop3 } from './scripted-pop3.js';

/** Gmail's CAPA, as pop.gmail.com answers it. */
export const GMAIL_POP3_CAPA = ['USER', 'RESP-CODES', 'EXPIRE 0', 'LOGIN-DELAY 300', 'TOP', 'UIDL', 'X-GOOGLE-RICO'];

export interface GmailPop3Options {
  messages: Buffer[];
  /** Messages one session lists at most (Gmail: about 250). */
  window?: number;
  /** How many of the newest messages `recent:` lists (standing for "the last 30 days"). */
  recent?: number;
  user?: string;
  password?: string;
}

export interface GmailPop3 extends ScriptedPop3 {
  /** Mailbox indexes (0-based) that count as downloaded. */
  readonly downloaded: ReadonlySet<number>;
  /** Number of sessions that logged in. */
  readonly sessions: () => number;
  /** What each logged-in session listed, by session: mailbox indexes. */
  readonly listed: number[][];
}

const CRLF = '\r\n';

interface Session {
  /** Maildrop number - 1 -> mailbox index. */
  view: number[];
  retrieved: Set<number>;
  recentMode: boolean;
  loggedIn: boolean;
}

export async function startGmailPop3(options: GmailPop3Options): Promise<GmailPop3> {
  const { messages } = options;
  const window = options.window ?? 250;
  const user = options.user ?? 'alice';
  const downloaded = new Set<number>();
  const listed: number[][] = [];
  const sessions = new WeakMap<ScriptContext, Session>();
  let count = 0;

  const hook = async (line: string, ctx: ScriptContext): Promise<boolean> => {
    let s = sessions.get(ctx);
    if (!s) {
      s = { view: [], retrieved: new Set(), recentMode: false, loggedIn: false };
      sessions.set(ctx, s);
    }
    const [verb = '', ...args] = line.split(' ');
    const v = verb.toUpperCase();
    if (!s.loggedIn) {
      let forward = line;
      if (v === 'USER' && args[0]?.toLowerCase().startsWith('recent:')) {
        s.recentMode = true;
        forward = `USER ${args[0].slice('recent:'.length)}`;
      }
      const reply = ctx.defaultReply(forward);
      // Every successful login method (PASS, APOP, AUTH) ends in the scripted server's "+OK Logged in.".
      if (reply.toString('latin1').startsWith('+OK Logged in.')) {
        s.loggedIn = true;
        count++;
        const candidates = messages.map((_, i) => i);
        const pool = s.recentMode
          ? candidates.slice(Math.max(0, messages.length - (options.recent ?? 0)))
          : candidates.filter((i) => !downloaded.has(i));
        s.view = pool.slice(0, window);
        listed.push([...s.view]);
      }
      await ctx.send(reply);
      return true;
    }
    const n = Number(args[0]);
    const index = Number.isInteger(n) && n >= 1 && n <= s.view.length ? s.view[n - 1] : undefined;
    const size = (i: number) => messages[i]!.length;
    switch (v) {
      case 'STAT':
        await ctx.send(`+OK ${s.view.length} ${s.view.reduce((t, i) => t + size(i), 0)}${CRLF}`);
        return true;
      case 'LIST':
        if (args[0] !== undefined) {
          await ctx.send(index === undefined ? `-ERR no such message${CRLF}` : `+OK ${n} ${size(index)}${CRLF}`);
        } else {
          await ctx.send(`+OK ${s.view.length} messages${CRLF}${s.view.map((i, k) => `${k + 1} ${size(i)}${CRLF}`).join('')}.${CRLF}`);
        }
        return true;
      case 'UIDL':
        if (args[0] !== undefined) {
          await ctx.send(index === undefined ? `-ERR no such message${CRLF}` : `+OK ${n} GmailId${(index + 0x1000).toString(16)}${CRLF}`);
        } else {
          await ctx.send(`+OK${CRLF}${s.view.map((i, k) => `${k + 1} GmailId${(i + 0x1000).toString(16)}${CRLF}`).join('')}.${CRLF}`);
        }
        return true;
      case 'RETR':
        if (index === undefined) {
          await ctx.send(`-ERR no such message${CRLF}`);
          return true;
        }
        s.retrieved.add(index);
        await ctx.send(multiLineReply(`+OK message follows`, messages[index]!));
        return true;
      case 'TOP': {
        if (index === undefined) {
          await ctx.send(`-ERR no such message${CRLF}`);
          return true;
        }
        const m = messages[index]!;
        const end = m.indexOf('\r\n\r\n');
        await ctx.send(multiLineReply('+OK', end === -1 ? m : m.subarray(0, end + 4)));
        return true;
      }
      case 'DELE':
        // Gmail's copy goes where the account's setting says; for POP3 the message is gone from later sessions.
        await ctx.send(index === undefined ? `-ERR no such message${CRLF}` : `+OK marked for deletion${CRLF}`);
        if (index !== undefined) s.retrieved.add(index);
        return true;
      case 'QUIT':
        for (const i of s.retrieved) downloaded.add(i);
        await ctx.send(`+OK Farewell.${CRLF}`);
        ctx.socket.end();
        return true;
      default:
        return false;
    }
  };

  const server = await startScriptedPop3({
    greeting: '+OK Gpop ready for requests from 127.0.0.1 a1mb12345678abc',
    capa: GMAIL_POP3_CAPA,
    user,
    ...(options.password === undefined ? {} : { password: options.password }),
    messages,
    hook,
  });
  return Object.assign(server, { downloaded, sessions: () => count, listed });
}
