/** Runs the built CLI (bin/poplift.js) as a child process, to kill it or run two at once. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/poplift.js', import.meta.url));

export interface ChildRun {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  done: Promise<number | NodeJS.Signals>;
  /** Resolves once stderr matches (or rejects when the process exits first). */
  waitFor: (pattern: RegExp) => Promise<void>;
}

/** `stdin: true` gives the child a pipe to write to (child.stdin); otherwise it reads nothing. */
export function startChild(args: string[], env: Record<string, string>, options: { stdin?: boolean } = {}): ChildRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...watchers]) {
      if (w.pattern.test(err)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    done,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(err)) {
          resolve();
          return;
        }
        watchers.push({ pattern, resolve });
        void done.then(() => reject(new Error(`process exited before ${pattern}: ${err.slice(-2000)}`)));
      }),
  };
}
