import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { applySettings, envName, parseBoolean } from '../../src/cli/config.js';

const dir = mkdtempSync(join(tmpdir(), 'poplift-config-'));

function config(name: string, data: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(data));
  return path;
}

/** A command shaped like migrate's options; returns what the action saw. */
function parse(args: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  let seen: Record<string, unknown> = {};
  const cmd = new Command('migrate')
    .exitOverride()
    .option('--folder <path>', 'folder', 'INBOX')
    .option('--delete', 'delete')
    .option('--dry-run', 'dry run')
    .option('--no-multiappend', 'one APPEND each')
    .option('--retries <n>', 'retries', '5')
    .addOption(new Option('--dedupe <mode>', 'dedupe').choices(['message-id', 'none']).default('message-id'))
    .option('--config <file>', 'config file')
    .action((o: Record<string, unknown>) => {
      seen = o;
    });
  cmd.hook('preAction', (c) => applySettings(c, env));
  cmd.parse(args, { from: 'user' });
  return seen;
}

describe('config precedence: command line, then POPLIFT_* variables, then --config file, then defaults', () => {
  const file = config('all.json', { folder: 'From File', delete: true, 'dry-run': true, retries: 9, dedupe: 'none', multiappend: false });

  it('takes every option from the file when nothing else sets it', () => {
    expect(parse(['--config', file], {})).toMatchObject({
      folder: 'From File',
      delete: true,
      dryRun: true,
      retries: '9',
      dedupe: 'none',
      multiappend: false,
    });
  });

  it('lets the environment win over the file', () => {
    const o = parse(['--config', file], {
      POPLIFT_FOLDER: 'From Env',
      POPLIFT_DELETE: '0',
      POPLIFT_DRY_RUN: 'no',
      POPLIFT_RETRIES: '2',
      POPLIFT_MULTIAPPEND: 'yes',
    });
    expect(o).toMatchObject({ folder: 'From Env', delete: false, dryRun: false, retries: '2', dedupe: 'none', multiappend: true });
  });

  it('lets the command line win over both', () => {
    const o = parse(['--config', file, '--folder', 'From CLI', '--delete', '--retries', '1', '--dedupe', 'message-id'], {
      POPLIFT_FOLDER: 'From Env',
      POPLIFT_DELETE: 'false',
      POPLIFT_RETRIES: '2',
    });
    expect(o).toMatchObject({ folder: 'From CLI', delete: true, retries: '1', dedupe: 'message-id' });
  });

  it('keeps the defaults when nothing is set, and finds the file through POPLIFT_CONFIG', () => {
    expect(parse([], {})).toMatchObject({ folder: 'INBOX', retries: '5', dedupe: 'message-id', multiappend: true });
    expect(parse([], {})).not.toHaveProperty('delete');
    expect(parse([], { POPLIFT_CONFIG: file })).toMatchObject({ folder: 'From File', delete: true });
  });

  it('parses yes/no values itself: a variable set to false is false (unlike commander Option.env)', () => {
    for (const v of ['0', 'false', 'no', 'off', 'FALSE']) expect(parse([], { POPLIFT_DELETE: v }).delete, v).toBe(false);
    for (const v of ['1', 'true', 'yes', 'on', 'Yes']) expect(parse([], { POPLIFT_DELETE: v }).delete, v).toBe(true);
    expect(() => parse([], { POPLIFT_DELETE: 'maybe' })).toThrow(/POPLIFT_DELETE must be yes\/no/);
    expect(parseBoolean('')).toBeUndefined();
  });

  it('checks choices from the environment and the file', () => {
    expect(() => parse([], { POPLIFT_DEDUPE: 'sha1' })).toThrow(/POPLIFT_DEDUPE must be one of message-id, none/);
    expect(() => parse(['--config', config('choice.json', { dedupe: 'x' })], {})).toThrow(/'dedupe' in .* must be one of/);
  });

  it('refuses passwords and unknown keys in the file', () => {
    expect(() => parse(['--config', config('pw.json', { pop3Password: 'secret' })], {})).toThrow(
      /passwords are not read from config files/,
    );
    expect(() => parse(['--config', config('pw2.json', { 'imap-password': 'secret' })], {})).toThrow(/passwords are not read/);
    expect(() => parse(['--config', config('unknown.json', { folderr: 'x' })], {})).toThrow(/unknown option 'folderr'/);
    expect(() => parse(['--config', join(dir, 'missing.json')], {})).toThrow(/Cannot read the config file/);
  });

  it('names variables after the long option', () => {
    const cmd = new Command().option('--pop3-password-file <f>').option('--no-multiappend');
    expect(cmd.options.map(envName)).toEqual(['POPLIFT_POP3_PASSWORD_FILE', 'POPLIFT_MULTIAPPEND']);
  });
});

describe('config in the real program', () => {
  async function poplift(args: string[], env: Record<string, string>) {
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    err.on('data', (c: Buffer) => (text += c.toString()));
    const code = await run(args, { stdout: out, stderr: err, env });
    return { code, stderr: text };
  }

  it('exits 2 for a bad yes/no variable, before connecting', async () => {
    const r = await poplift(['migrate', 'pop3://a@127.0.0.1:1', 'imap://b@127.0.0.1:1'], { POPLIFT_DRY_RUN: 'perhaps' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/POPLIFT_DRY_RUN must be yes\/no/);
  });

  it('accepts a file shared by batch and migrate (jobs is a batch option)', async () => {
    const file = config('shared.json', { jobs: 2, folder: 'x/' });
    // The folder from the file reaches migrate's own checks: 'x/' is fine, '/' names no folder.
    const bad = config('shared-bad.json', { jobs: 2, folder: '/' });
    const r = await poplift(['migrate', 'pop3://a@127.0.0.1:1', 'imap://b@127.0.0.1:1', '--config', bad], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--folder '\/' names no folder/);
    const cli = await poplift(['migrate', 'ftp://a@127.0.0.1:1', 'imap://b@127.0.0.1:1', '--config', file], {});
    expect(cli.stderr).not.toMatch(/unknown option/);
  });
});

describe('YAML config files', () => {
  it('reads a .yaml file like a JSON one, and refuses what is not a mapping', () => {
    const yamlPath = join(dir, 'poplift.yaml');
    writeFileSync(yamlPath, '# cron settings\nfolder: Archive/Old ISP\ndelete: true\nretries: 3\n');
    expect(parse(['--config', yamlPath], {})).toMatchObject({ folder: 'Archive/Old ISP', delete: true, retries: '3' });
    const listPath = join(dir, 'list.yml');
    writeFileSync(listPath, '- folder: x\n');
    expect(() => parse(['--config', listPath], {})).toThrow(/must hold one mapping/);
    const badPath = join(dir, 'bad.yaml');
    writeFileSync(badPath, 'folder: [unclosed\n');
    expect(() => parse(['--config', badPath], {})).toThrow(/not valid YAML/);
  });
});
