/**
 * Memory settings that only take effect when a process starts. A migration
 * streams hundreds of MB through buffers that live briefly; with Node's
 * defaults the young generation grows to tens of MB and glibc keeps freed
 * buffer memory mapped, which together more than double the resident size
 * of a run. bin/poplift.js therefore replaces its own process image once,
 * before loading anything else, with the same program started with these
 * settings: same PID (locks and signals are unaffected), same stdin, stdout
 * and stderr, same arguments.
 *
 * Only node: modules here: this runs before the rest of poplift is loaded.
 */
import { accessSync, constants } from 'node:fs';

/** Set in the restarted image, so it does not restart again; lists the variables added for it. */
export const TUNED_MARKER = 'POPLIFT_TUNED';

/**
 * A small young generation: message data lives outside V8's heap, so a
 * larger one only holds more short-lived bookkeeping without making the
 * run faster.
 */
const V8_FLAGS: ReadonlyArray<readonly [name: string, value: string]> = [['--max-semi-space-size', '1']];

/**
 * glibc: return large blocks to the system as soon as they are freed instead
 * of raising the threshold after each one, and give the few helper threads
 * two arenas instead of eight per core.
 */
const GLIBC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(256 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(1024 * 1024),
  MALLOC_ARENA_MAX: '2',
};

export interface Launch {
  args: string[];
  env: Record<string, string>;
}

export interface ProcessFacts {
  platform: NodeJS.Platform;
  execPath: string;
  execArgv: readonly string[];
  /** process.argv: [node, script, ...arguments] */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /**
   * A single executable application (npm run build:sea): process.argv[1] is
   * the name it was started by, its V8 flags are built into it (execArgv),
   * and anything on its command line is poplift's, so flags cannot go there.
   */
  sea?: boolean;
}

function flagName(arg: string): string {
  const name = arg.split('=')[0]!;
  return name.replace(/_/g, '-');
}

/**
 * How to start this program again with the settings above, or undefined when
 * it already runs with them. A setting the user made (a V8 flag on the command
 * line or in NODE_OPTIONS, a MALLOC_ variable) is kept as it is.
 */
export function tunedLaunch(facts: ProcessFacts): Launch | undefined {
  if (facts.env[TUNED_MARKER] !== undefined) return undefined;
  const nodeArgs = [...facts.execArgv, ...(facts.env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) => a.startsWith('--'));
  // A debugger attached to this process would lose it.
  if (nodeArgs.some((a) => a.startsWith('--inspect'))) return undefined;
  const given = new Set(nodeArgs.map(flagName));
  const flags = V8_FLAGS.filter(([name]) => !given.has(name)).map(([name, value]) => `${name}=${value}`);
  const added = facts.platform === 'linux' ? Object.keys(GLIBC_ENV).filter((name) => facts.env[name] === undefined) : [];
  if (facts.sea ? added.length === 0 : flags.length === 0 && added.length === 0) return undefined;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(facts.env)) if (value !== undefined) env[name] = value;
  for (const name of added) env[name] = GLIBC_ENV[name]!;
  env[TUNED_MARKER] = added.join(',');
  if (facts.sea) return { args: facts.argv.slice(1), env };
  return { args: [facts.execPath, ...facts.execArgv, ...flags, ...facts.argv.slice(1)], env };
}

/**
 * Restarts the process with tunedLaunch's settings, where Node can replace a
 * process image (process.execve, Node >= 22.15, not on Windows). When it
 * cannot, poplift runs on as it is: the settings save memory, nothing
 * depends on them. Node aborts the process when execve itself fails, so the
 * one failure that can be foreseen, a Node binary that can no longer be
 * executed (replaced or removed by an upgrade), is checked first.
 */
export function restartTuned(): void {
  const env = process.env;
  const marker = env[TUNED_MARKER];
  if (marker !== undefined) {
    // The variables were for this process's allocator; programs poplift starts (password commands) get the user's environment.
    for (const name of marker.split(',')) if (name !== '') delete env[name];
    delete env[TUNED_MARKER];
    return;
  }
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== 'function') return;
  const sea = (process.getBuiltinModule('node:sea') as { isSea?: () => boolean } | undefined)?.isSea?.() ?? false;
  const launch = tunedLaunch({
    platform: process.platform,
    execPath: process.execPath,
    execArgv: process.execArgv,
    argv: process.argv,
    env,
    sea,
  });
  if (launch === undefined) return;
  try {
    accessSync(process.execPath, constants.X_OK);
  } catch {
    return;
  }
  try {
    execve.call(process, process.execPath, launch.args, launch.env);
  } catch {
    // Refused before the exec (e.g. by Node's permission model): run untuned.
  }
}
