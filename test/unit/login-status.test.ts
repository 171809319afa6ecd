import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { withLoginStatus } from '../../src/cli/login-status.js';
import { Output, outputSettings } from '../../src/cli/output.js';
import { screenOf } from '../helpers/tty.js';
import type { MailDestination, MailSource, StoreEndpoints } from '../../src/store/mail-store.js';

/** A login the test lets succeed or fail when it wants. */
function pending<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const POP3 = 'pop3s://alice@pop.old.example:995';
const IMAP = 'imaps://alice@imap.new.example:993';

function endpoints() {
  const sources: Array<ReturnType<typeof pending<MailSource>>> = [];
  const destinations: Array<ReturnType<typeof pending<MailDestination>>> = [];
  const raw: StoreEndpoints = {
    sourceLabel: POP3,
    destinationLabel: IMAP,
    connectSource: () => {
      sources.push(pending<MailSource>());
      return sources.at(-1)!.promise;
    },
    connectDestination: () => {
      destinations.push(pending<MailDestination>());
      return destinations.at(-1)!.promise;
    },
  };
  return { raw, sources, destinations };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the login status', () => {
  it('names the servers still being connected to, then what follows the logins; reconnects show again', async () => {
    const { raw, sources, destinations } = endpoints();
    const shown: string[] = [];
    const wrapped = withLoginStatus(raw, (text) => shown.push(text), 'logged in to both servers; listing …');
    expect(wrapped.sourceLabel).toBe(POP3);
    const source = wrapped.connectSource();
    const destination = wrapped.connectDestination();
    expect(shown).toEqual([`connecting to ${POP3} …`, `connecting to ${POP3} and ${IMAP} …`]);

    sources[0]!.resolve({} as MailSource);
    await source;
    expect(shown.at(-1)).toBe(`connecting to ${IMAP} … (POP3 logged in)`);
    destinations[0]!.resolve({} as MailDestination);
    await destination;
    expect(shown.at(-1)).toBe('logged in to both servers; listing …');

    // A reconnect that fails leaves its line up: nothing claims the side is logged in.
    const again = wrapped.connectDestination();
    expect(shown.at(-1)).toBe(`connecting to ${IMAP} … (POP3 logged in)`);
    const count = shown.length;
    destinations[1]!.reject(new Error('refused'));
    await expect(again).rejects.toThrow('refused');
    await tick();
    expect(shown).toHaveLength(count);
  });
});

function terminal(columns: number): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  Object.assign(stream, { isTTY: true, columns });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('the status line on the output', () => {
  const status = `connecting to ${POP3} and ${IMAP} …`;

  it('on a terminal: cut to its width, drawn until the bar replaces it, erased at the end', () => {
    const err = terminal(40);
    const output = new Output(err.stream, outputSettings({ progressInterval: '30' }, err.stream, false, 'when-listed'));
    output.mailboxStarted(0, `${POP3} -> ${IMAP} folder "X"`, 'alice → X');
    output.mailboxStatus(0, status);
    output.close();
    const text = err.text();
    expect(text).toContain(`${status.slice(0, 38)}…\x1b[0K`);
    expect(text).not.toContain(status.slice(0, 39));
    // Nothing left on the screen, and the cursor and autowrap given back.
    expect(screenOf(text, 40).join('')).toBe('');
    expect(text).toContain('\x1b[?25h\x1b[?7h');
  });

  it('once the bar is shown a later status (a reconnect) draws nothing', () => {
    const err = terminal(120);
    const output = new Output(err.stream, outputSettings({ progressInterval: '30' }, err.stream, false, 'when-listed'));
    output.mailboxStarted(0, `${POP3} -> ${IMAP} folder "X"`, 'alice → X');
    output.mailboxStatus(0, status);
    output.mailboxListed(0, { found: 3, totalBytes: 3000, done: 0, doneBytes: 0 });
    output.mailboxStatus(0, `connecting to ${IMAP} … (POP3 logged in)`);
    output.close();
    expect(err.text()).toMatch(/alice → X .* 0% \|/);
    expect(err.text()).not.toContain('connecting to');
  });

  for (const [what, options, tty] of [
    ['--quiet', { quiet: true }, true],
    ['--silent', { silent: true }, true],
    ['--json', { json: true }, true],
    ['--debug', { debug: true }, true],
    ['stderr not a terminal', {}, false],
  ] as const) {
    it(`${what}: nothing of it is written`, () => {
      const err = terminal(80);
      if (!tty) Object.assign(err.stream, { isTTY: false });
      const output = new Output(err.stream, outputSettings({ progressInterval: '30', ...options }, err.stream, false, 'when-listed'));
      output.mailboxStarted(0, `${POP3} -> ${IMAP} folder "X"`, 'alice → X');
      output.mailboxStatus(0, status);
      output.close();
      expect(err.text()).toBe('');
    });
  }
});
