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
