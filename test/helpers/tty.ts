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

/**
 * What a terminal `cols` columns wide shows once `output` was written to
 * it, one string per row (trailing blanks dropped): printable characters,
 * CR and LF, and the sequences poplift and cli-progress write (cursor up,
 * down, left, right and to a column; erase in line and below; autowrap
 * on and off). Text that an erase did not reach is still there, as on a
 * real screen.
 */
export function screenOf(output: string, cols: number): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let autowrap = true;
  const line = (): string[] => (rows[row] ??= []);
  for (let i = 0; i < output.length;) {
    const esc = /^\x1b\[(\??)([0-9;]*)([A-Za-z])/.exec(output.slice(i, i + 16));
    if (esc) {
      i += esc[0].length;
      const [, privateMode, params, op] = esc;
      const n = Number(params === '' ? (op === 'J' || op === 'K' ? 0 : 1) : params);
      if (privateMode === '?') {
        if (params === '7') autowrap = op === 'h';
        continue;
      }
      if (op === 'A') row = Math.max(0, row - n);
      else if (op === 'B') row += n;
      else if (op === 'C') col = Math.min(cols - 1, col + n);
      else if (op === 'D') col = Math.max(0, Math.min(col, cols - 1) - n);
      else if (op === 'G') col = Math.min(cols - 1, n - 1);
      else if (op === 'K') {
        const l = line();
        if (n === 0) l.length = Math.min(l.length, col);
        else if (n === 1) l.fill(' ', 0, Math.min(l.length, col + 1));
        else l.length = 0;
      } else if (op === 'J' && n === 0) {
        line().length = Math.min(line().length, col);
        rows.length = row + 1;
      }
      continue;
    }
    const ch = String.fromCodePoint(output.codePointAt(i)!);
    i += ch.length;
    if (ch === '\r') col = 0;
    else if (ch === '\n') row++;
    else if (ch === '\x1b') continue;
    else {
      if (col >= cols) {
        if (autowrap) {
          row++;
          col = 0;
        } else col = cols - 1;
      }
      const l = line();
      while (l.length < col) l.push(' ');
      l[col] = ch;
      col++;
    }
  }
  // Rows only moved past (a newline, a cursor move down) were never written: blank.
  return Array.from({ length: rows.length }, (_, i) => (rows[i] ?? []).join('').trimEnd());
}
