import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { run } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** One state directory per test file (each file runs in its own worker), never the user's own. */
export const testStateHome = mkdtempSync(join(tmpdir(), 'poplift-state-'));

/** Runs the CLI in this process with its own stdout/stderr and environment. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out = collect();
  const err = collect();
  const code = await run(args, {
    stdout: out.stream,
    stderr: err.stream,
    env: { PATH: process.env.PATH ?? '', HOME: testStateHome, XDG_STATE_HOME: testStateHome, ...env },
  });
  return { code, stdout: out.text(), stderr: err.text() };
}
