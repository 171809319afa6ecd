/**
 * Options from a config file (--config poplift.json or poplift.yaml) and from POPLIFT_*
 * environment variables. The command line wins, then the environment, then
 * the file, then the built-in default.
 *
 * The variable for an option is POPLIFT_ and its long name in upper case with
 * '_' for '-': --folder is POPLIFT_FOLDER, --dry-run POPLIFT_DRY_RUN,
 * --no-multiappend POPLIFT_MULTIAPPEND=0. Yes/no options take 1/true/yes/on
 * or 0/false/no/off (commander's own Option.env would make any value true).
 * A config file key is the long name (dry-run) or its camelCase (dryRun).
 * Passwords never come from here: only POPLIFT_POP3_PASSWORD and
 * POPLIFT_IMAP_PASSWORD, which secrets.ts reads.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Command, Option } from 'commander';
import { usageError } from '../errors.js';

export function parseBoolean(value: string | boolean | number): boolean | undefined {
  if (typeof value === 'boolean') return value;
  const v = String(value).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', 'y'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', 'n'].includes(v)) return false;
  return undefined;
}

/** The option's name without dashes and without the "no-" of a negated flag: dry-run, multiappend. */
function baseName(option: Option): string {
  const long = (option.long ?? '').replace(/^--/, '');
  return option.negate ? long.replace(/^no-/, '') : long;
}

export function envName(option: Option): string {
  return `POPLIFT_${baseName(option).toUpperCase().replace(/-/g, '_')}`;
}

/** Options that say where settings come from, or only make sense typed. */
const NOT_FROM_SETTINGS = new Set(['config', 'help', 'version']);

/** Config keys that could only be secrets: refused with a pointer to the supported ways. */
const SECRET_KEY = /^(pop3|imap)?[-_]?(password|token|secret|pass)$/i;

type Settings = Record<string, unknown>;

export function readConfigFile(path: string): Settings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read the config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  const yaml = /\.ya?ml$/i.test(path);
  let data: unknown;
  try {
    // YAML's core schema: no custom tags, so a config file cannot construct anything but plain data.
    data = yaml ? parseYaml(text, { schema: 'core' }) : JSON.parse(text);
  } catch (err) {
    throw usageError(`The config file ${path} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}.`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw usageError(`The config file ${path} must hold one ${yaml ? 'mapping' : 'JSON object'} of option names to values.`);
  }
  return data as Settings;
}

/** A yes/no option: --delete, and also --no-multiappend (commander's isBoolean() leaves negated flags out). */
export function isYesNo(option: Option): boolean {
  return !option.required && !option.optional;
}

function convert(option: Option, value: unknown, where: string): string | boolean {
  if (isYesNo(option)) {
    const b = typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number' ? parseBoolean(value) : undefined;
    if (b === undefined) throw usageError(`${where} must be yes/no, true/false or 1/0, not '${String(value)}'.`);
    // --no-multiappend: the attribute multiappend is what the value says.
    return b;
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw usageError(`${where} must be a string or a number.`);
  const text = String(value);
  if (option.argChoices && !option.argChoices.includes(text)) {
    throw usageError(`${where} must be one of ${option.argChoices.join(', ')}, not '${text}'.`);
  }
  return text;
}

/**
 * Fills the options the command line left at their defaults from the
 * environment, then from the config file (--config, or POPLIFT_CONFIG).
 * `otherOptionNames` are option names of poplift's other commands: a config
 * file shared by migrate and batch may hold them, anything else is an error.
 */
export function applySettings(command: Command, env: NodeJS.ProcessEnv, otherOptionNames: ReadonlySet<string> = new Set()): void {
  const opts = command.opts<Record<string, unknown>>();
  const configPath = (opts.config as string | undefined) ?? (env.POPLIFT_CONFIG || undefined);
  const file = configPath === undefined ? {} : readConfigFile(configPath);

  const byKey = new Map<string, Option>();
  for (const option of command.options) {
    if (!option.long || NOT_FROM_SETTINGS.has(baseName(option))) continue;
    byKey.set(baseName(option), option);
    byKey.set(option.attributeName(), option);
  }
  for (const key of Object.keys(file)) {
    if (SECRET_KEY.test(key)) {
      throw usageError(
        `The config file ${configPath} sets '${key}': passwords are not read from config files; use POPLIFT_POP3_PASSWORD / POPLIFT_IMAP_PASSWORD or --pop3-password-file / --imap-password-file.`,
      );
    }
    if (!byKey.has(key) && !otherOptionNames.has(key) && !NOT_FROM_SETTINGS.has(key)) {
      throw usageError(`The config file ${configPath} has an unknown option '${key}'.`);
    }
  }

  const seen = new Set<Option>();
  for (const option of byKey.values()) {
    if (seen.has(option)) continue;
    seen.add(option);
    const attr = option.attributeName();
    const source = command.getOptionValueSource(attr);
    if (source === 'cli') continue;
    const name = envName(option);
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv !== '') {
      command.setOptionValueWithSource(attr, convert(option, fromEnv, name), 'env');
      continue;
    }
    const key = baseName(option) in file ? baseName(option) : attr in file ? attr : undefined;
    if (key !== undefined && file[key] !== undefined && file[key] !== null) {
      command.setOptionValueWithSource(attr, convert(option, file[key], `'${key}' in ${configPath}`), 'config');
    }
  }
}

/** Every option name (long name and camelCase) of every command, for applySettings. */
export function allOptionNames(program: Command): Set<string> {
  const names = new Set<string>();
  for (const command of program.commands) {
    for (const option of command.options) {
      if (!option.long) continue;
      names.add(baseName(option));
      names.add(option.attributeName());
    }
  }
  return names;
}
