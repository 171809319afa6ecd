/** Runs the built CLI under a pseudo-terminal (util-linux script), so its stdin and stderr are a TTY. */
import { spawn } from 'node:child_process';
import { BIN } from './child-run.js';

export interface TtyRun {
  code: number;
  output: string;
}

/**
 * `answers` are typed in order, each once the output so far matches its
 * prompt, as a person at the terminal would.
 */
export function runUnderTty(args: string[], env: Record<string, string>, answers: Array<[RegExp, string]> = []): Promise<TtyRun> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `stty cols 160 2>/dev/null; ${quoted}`, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env },
      stdio: [answers.length > 0 ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    const pending = [...answers];
    const onOutput = (c: Buffer) => {
      chunks.push(c);
      const next = pending[0];
      if (next && next[0].test(Buffer.concat(chunks).toString('utf8'))) {
        pending.shift();
        child.stdin!.write(`${next[1]}\r`);
        if (pending.length === 0) child.stdin!.end();
      }
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

export interface TtyChild {
  /** PID of the program itself (not of `script`), to send it signals as a terminal would. */
  pid: Promise<number>;
  output: () => string;
  /** Resolves once the output matches. */
  waitFor: (pattern: RegExp) => Promise<void>;
  done: Promise<number>;
}

/** Starts `command` (argv) under a pseudo-terminal `cols` columns wide. */
export function startUnderTty(command: string[], env: Record<string, string>, cols: number): TtyChild {
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // The shell prints its PID, then becomes the program (exec keeps the PID).
  const child = spawn('script', ['-qfec', `stty cols ${cols} rows 40 2>/dev/null; echo "PID:$$"; exec ${quoted}`, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const output = () => Buffer.concat(chunks).toString('utf8');
  const onOutput = (c: Buffer) => {
    chunks.push(c);
    const text = output();
    for (const w of [...watchers]) {
      if (w.pattern.test(text)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  const done = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? -1));
  });
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (pattern.test(output())) {
        resolve();
        return;
      }
      watchers.push({ pattern, resolve });
      void done.then(() => setTimeout(() => reject(new Error(`exited before ${pattern}: ${output().slice(-2000)}`)), 100));
    });
  const pid = waitFor(/PID:\d+/).then(() => Number(/PID:(\d+)/.exec(output())![1]));
  return { pid, output, waitFor, done };
}

/**
 * The lines a terminal would have shown, one entry per drawn line: escape
 * sequences (cursor moves, clears) end a line as a newline would.
 */
export function drawnLines(output: string): string[] {
  return output
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n')
    .split(/[\r\n]+/)
    .filter((l) => l !== '');
}
