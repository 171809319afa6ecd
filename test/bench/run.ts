/**
 * `npm run bench`: how close poplift comes to what the servers and the link
 * allow. One run generates a mailbox, measures the floor with minimal
 * clients (pipelined POP3 read + MULTIAPPEND upload), runs poplift end to
 * end, runs it again with nothing new, and repeats the migration over a link
 * with 50 ms round trips; then, over the same link, migrates into Dovecot
 * announcing the capabilities of servers without MULTIAPPEND (Gmail,
 * Microsoft 365, Courier), each against a floor allowed 8 connections; and,
 * with the servers of .ci/install-servers, migrates into a real Courier-IMAP
 * against a one-APPEND-at-a-time floor and against the same messages into
 * Dovecot; and runs poplift as a process on a mailbox with the shape of real
 * mail (duplicates, 8-bit headers, no Message-ID) against the same floor and,
 * for the re-run with nothing new, against a minimal client process that only
 * logs in to both servers and lists. Timings are reported beside their targets and never asserted: a
 * loaded machine must not turn the benchmark red.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { courierMissing, startCourier } from '../helpers/courier.js';
import { dovecotBinary, startDovecot } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { personality, type Personality } from '../helpers/personalities.js';
import { FLOOR_BATCH, imapFloor } from './imap-floor.js';
import { imapParallelFloor } from './imap-parallel-floor.js';
import { makeMailbox, makeRealMailbox } from './mailbox.js';
import { measureChild, nodeStartup, runningChildren, type ChildMeasurement } from './measure.js';
import { pop3Floor } from './pop3-floor.js';
import { syncAppendFloor } from './sync-append-floor.js';
import { formatTable, type Row } from './report.js';

const USAGE = `npm run bench -- [options]
  --messages <n>           messages in the mailbox (default 10000)
  --big-message-mb <n>     also include one message of this many MiB (default 0: none)
  --latency-messages <n>   messages for the 50 ms RTT runs (default 2000)
  --latency-ms <n>         one-way delay of the slow link (default 25)
  --skip-latency           leave out the slow-link runs
  --provider-messages <n>  messages for the destinations without MULTIAPPEND (default 500)
  --skip-providers         leave out the destinations without MULTIAPPEND
  --courier-messages <n>   messages for the Courier-IMAP destination runs (default 500; 0 leaves them out)
  --real-mail-messages <n> messages of the real-mail-shaped mailbox run as whole processes (default 2000; 0 leaves it out)
  --seed <n>               PRNG seed of the mailbox (default 1)
  --poplift-args "<args>"  extra options for every poplift run, e.g. "--max-inflight 64"`;

const TARGETS = {
  loopbackRatio: 1.5,
  latencyRatio: 1.5,
  /** Destinations without MULTIAPPEND over the slow link, against a floor allowed PROVIDER_FLOOR_CONNECTIONS connections. */
  providerRatio: 1.3,
  /** For a mailbox of RSS_BASE_MESSAGES. */
  peakRssMb: 150,
  /** Growth of peak RSS from RSS_BASE_MESSAGES to a larger mailbox (10x: 100,000). */
  rssGrowthMb: 40,
  rerunBeyondStartupSeconds: 1,
  /** poplift into Courier-IMAP against the same messages from the same source into Dovecot, in the same run. */
  courierVersusDovecot: 3,
};

/** The mailbox size the RSS target is set for; a larger --messages also measures this many, to report the growth. */
const RSS_BASE_MESSAGES = 10_000;

const FOLDER = 'Migrated';

/** Connections the floor may use against a destination without MULTIAPPEND. */
const PROVIDER_FLOOR_CONNECTIONS = 8;

/** Dovecot announcing these servers' capabilities (test/helpers/personalities.ts), over the slow link. */
const PROVIDERS: ReadonlyArray<{ personality: Personality; label: string }> = [
  { personality: 'gmail', label: 'Gmail-like (LITERAL-, no MULTIAPPEND)' },
  { personality: 'm365', label: 'Microsoft 365-like (LITERAL+, no MULTIAPPEND)' },
  { personality: 'courier', label: 'Courier-like (no LITERAL+, no MULTIAPPEND)' },
];

interface Options {
  messages: number;
  bigMessageMb: number;
  latencyMessages: number;
  latencyMs: number;
  skipLatency: boolean;
  providerMessages: number;
  skipProviders: boolean;
  courierMessages: number;
  realMailMessages: number;
  seed: number;
  popliftArgs: string[];
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '10000' },
      'big-message-mb': { type: 'string', default: '0' },
      'latency-messages': { type: 'string', default: '2000' },
      'latency-ms': { type: 'string', default: '25' },
      'skip-latency': { type: 'boolean', default: false },
      'provider-messages': { type: 'string', default: '500' },
      'skip-providers': { type: 'boolean', default: false },
      'courier-messages': { type: 'string', default: '500' },
      'real-mail-messages': { type: 'string', default: '2000' },
      seed: { type: 'string', default: '1' },
      'poplift-args': { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const count = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`bench: --${name} must be a number >= ${min}, not '${text}'\n${USAGE}\n`);
      process.exit(2);
    }
    return n;
  };
  return {
    messages: Math.floor(count('messages', values.messages, 1)),
    bigMessageMb: count('big-message-mb', values['big-message-mb'], 0),
    latencyMessages: Math.floor(count('latency-messages', values['latency-messages'], 1)),
    latencyMs: count('latency-ms', values['latency-ms'], 0),
    skipLatency: values['skip-latency'],
    providerMessages: Math.floor(count('provider-messages', values['provider-messages'], 1)),
    skipProviders: values['skip-providers'],
    courierMessages: Math.floor(count('courier-messages', values['courier-messages'], 0)),
    realMailMessages: Math.floor(count('real-mail-messages', values['real-mail-messages'], 0)),
    seed: Math.floor(count('seed', values.seed, 0)),
    popliftArgs: values['poplift-args'].split(/\s+/).filter((a) => a !== ''),
  };
}

/** The checkout this file belongs to, whether it runs compiled from .bench/ or from source. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'poplift') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the poplift checkout above the benchmark');
    dir = up;
  }
}

const t0 = performance.now();
function progress(text: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${text}\n`);
}

interface PopliftSummary {
  found: number;
  appended: number;
  duplicates: number;
  failed: number;
  seconds: number;
  /** Messages a journal of an earlier run already accounts for (newer poplift). */
  knownFromJournal?: number;
}

interface PopliftRun {
  measurement: ChildMeasurement;
  summary: PopliftSummary | undefined;
  error: string | undefined;
  command: string;
}

/** Everything to undo, newest first; also run on SIGINT/SIGTERM. */
const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of runningChildren) child.kill('SIGTERM');
    for (const undo of cleanups.splice(0).reverse()) await undo().catch(() => undefined);
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping the servers and the proxies`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const o = options();
  const root = projectRoot();
  const bin = join(root, 'bin', 'poplift.js');
  if (!existsSync(join(root, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  const dovecotVersion = execFileSync(dovecotBinary() ?? 'dovecot', ['--version'], { encoding: 'utf8' }).trim();

  progress(`generating ${o.messages} messages (seed ${o.seed})`);
  const mailbox = makeMailbox({ messages: o.messages, seed: o.seed, bigMessageMb: o.bigMessageMb });
  const latencyMessages = mailbox.messages.slice(0, o.latencyMessages);
  const latencyBytes = latencyMessages.reduce((n, m) => n + m.length, 0);

  // poplift keeps journals and locks under $XDG_STATE_HOME: give it a private one so runs start clean and leave nothing behind.
  const stateHome = mkdtempSync(join(tmpdir(), 'poplift-bench-state-'));
  cleanups.push(() => {
    rmSync(stateHome, { recursive: true, force: true });
    return Promise.resolve();
  });

  progress('starting Dovecot');
  const dovecot = await startDovecot();
  cleanups.push(() => dovecot.stop());
  const ca = readFileSync(dovecot.certPath);
  const host = dovecot.host;
  // All users up front: Dovecot's passwd-file is re-read at most once a second, so a user added right after a login may be unknown.
  const source = dovecot.addUser('source');
  const floorUser = dovecot.addUser('floor');
  const dest = dovecot.addUser('dest');
  const slowSource = dovecot.addUser('source-slow');
  const slowDest = dovecot.addUser('dest-slow');
  const baseSource = dovecot.addUser('source-base');
  const baseDest = dovecot.addUser('dest-base');
  const courierSource = dovecot.addUser('source-courier');
  const courierReference = dovecot.addUser('dest-courier-reference');
  const realSource = dovecot.addUser('source-real');
  const realFloor = dovecot.addUser('floor-real');
  const realDest = dovecot.addUser('dest-real');

  progress(`writing ${mailbox.messages.length} messages (${(mailbox.bytes / 1e6).toFixed(1)} MB) into the source Maildir`);
  for (const m of mailbox.messages) dovecot.deliver(source, m);
  // The first POP3 session indexes the Maildir; neither the floor nor poplift should pay for that.
  progress('warm-up read (builds Dovecot index, fills the page cache)');
  await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: source.name, password: source.password });

  const rows: Row[] = [];
  const loop = 'loopback';
  const n = mailbox.messages.length;

  progress('floor (a): pipelined POP3 read');
  const floorA = await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: source.name, password: source.password });
  rows.push({ section: loop, name: 'floor a: POP3, all RETRs pipelined', messages: n, bytes: mailbox.bytes, seconds: floorA.seconds });

  progress(`floor (b): MULTIAPPEND, ${FLOOR_BATCH} messages per command`);
  const floorB = await imapFloor({
    host,
    port: dovecot.ports.imaps,
    ca,
    user: floorUser.name,
    password: floorUser.password,
    mailbox: 'FloorLoopback',
    messages: mailbox.messages,
  });
  rows.push({
    section: loop,
    name: `floor b: IMAP MULTIAPPEND x${FLOOR_BATCH}, LITERAL+`,
    messages: n,
    bytes: mailbox.bytes,
    seconds: floorB.seconds,
  });
  const floorLoop = floorA.seconds + floorB.seconds;
  rows.push({ section: loop, name: 'floor = a + b', messages: n, bytes: mailbox.bytes, seconds: floorLoop });

  const popliftRun = async (
    target: { name: string; password: string },
    pop3Port: number,
    imapPort: number,
    src: { name: string; password: string },
    certPath = dovecot.certPath,
    imapScheme = 'imaps',
  ): Promise<PopliftRun> => {
    const args = [
      bin,
      'migrate',
      `pop3s://${src.name}@${host}:${pop3Port}`,
      `${imapScheme}://${target.name}@${host}:${imapPort}`,
      '--folder',
      FOLDER,
      '--json',
      '--ca-file',
      certPath,
      ...o.popliftArgs,
    ];
    const env = {
      PATH: process.env.PATH ?? '',
      XDG_STATE_HOME: stateHome,
      POPLIFT_POP3_PASSWORD: src.password,
      POPLIFT_IMAP_PASSWORD: target.password,
    };
    const command = `POPLIFT_POP3_PASSWORD=… POPLIFT_IMAP_PASSWORD=… node ${args.map((a) => (a === bin ? 'bin/poplift.js' : a)).join(' ')}`;
    const measurement = await measureChild(process.execPath, args, env, root);
    let summary: PopliftSummary | undefined;
    try {
      const last = measurement.stdout.trim().split('\n').pop() ?? '';
      summary = JSON.parse(last) as PopliftSummary;
    } catch {
      summary = undefined;
    }
    const error =
      measurement.code !== 0 || summary === undefined
        ? `exit ${measurement.code ?? measurement.signal}; stderr: ${measurement.stderr.trim().slice(-600) || '(empty)'}`
        : undefined;
    return { measurement, summary, error, command };
  };
  /** Checks the summary: `fresh` when every message should have been uploaded, else none of them. */
  const check = (run: PopliftRun, count: number, fresh: boolean): string | undefined => {
    if (run.error) return run.error;
    const s = run.summary!;
    const known = s.duplicates + (s.knownFromJournal ?? 0);
    const ok = s.found === count && s.failed === 0 && (fresh ? s.appended === count : s.appended === 0 && known === count);
    if (ok) return undefined;
    return `expected ${fresh ? `all ${count} appended` : `all ${count} skipped`}; summary says found ${s.found}, appended ${s.appended}, duplicates ${s.duplicates}, known from journal ${s.knownFromJournal ?? '-'}, failed ${s.failed}`;
  };
  const popliftRow = (section: string, name: string, run: PopliftRun, messages: number, bytes: number): Row => ({
    section,
    name,
    messages,
    bytes,
    seconds: run.measurement.seconds,
    peakRssBytes: run.measurement.peakRssBytes,
  });

  progress('poplift migrate (loopback)');
  const first = await popliftRun(dest, dovecot.ports.pop3s, dovecot.ports.imaps, source);
  const firstError = check(first, n, true);
  const ratioLoop = first.measurement.seconds / floorLoop;
  // The RSS target is set for RSS_BASE_MESSAGES, plus 3 × the largest message when one is very large;
  // a larger mailbox is held to the growth from there.
  const bigMessage = o.bigMessageMb > 0;
  const rssTargetMb = Math.round(bigMessage ? TARGETS.peakRssMb + (3 * mailbox.largestBytes) / 1e6 : TARGETS.peakRssMb);
  const rssTargetApplies = bigMessage || n <= RSS_BASE_MESSAGES;
  const rssOk =
    first.measurement.peakRssBytes === undefined || !rssTargetApplies ? undefined : first.measurement.peakRssBytes <= rssTargetMb * 1e6;
  rows.push({
    ...popliftRow(loop, 'poplift migrate', first, n, mailbox.bytes),
    versus: `${ratioLoop.toFixed(2)} × floor`,
    target: `≤ ${TARGETS.loopbackRatio} × floor${rssTargetApplies ? `, RSS ≤ ${rssTargetMb} MB` : ''}`,
    met: firstError === undefined && ratioLoop <= TARGETS.loopbackRatio && rssOk !== false,
    missed: [...(ratioLoop > TARGETS.loopbackRatio ? ['time'] : []), ...(rssOk === false ? ['RSS'] : [])],
    error: firstError,
  });

  let growth: Record<string, unknown> | undefined;
  if (n > RSS_BASE_MESSAGES && !bigMessage) {
    const baseMessages = mailbox.messages.slice(0, RSS_BASE_MESSAGES);
    const baseBytes = baseMessages.reduce((sum, m) => sum + m.length, 0);
    progress(`poplift migrate of the first ${RSS_BASE_MESSAGES} messages, for the RSS growth`);
    for (const m of baseMessages) dovecot.deliver(baseSource, m);
    await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: baseSource.name, password: baseSource.password });
    const base = await popliftRun(baseDest, dovecot.ports.pop3s, dovecot.ports.imaps, baseSource);
    const baseError = check(base, RSS_BASE_MESSAGES, true);
    const baseRss = base.measurement.peakRssBytes;
    const fullRss = first.measurement.peakRssBytes;
    const baseOk = baseRss === undefined ? undefined : baseRss <= TARGETS.peakRssMb * 1e6;
    rows.push({
      ...popliftRow(loop, `poplift migrate, first ${RSS_BASE_MESSAGES.toLocaleString('en-US')} only`, base, RSS_BASE_MESSAGES, baseBytes),
      target: `RSS ≤ ${TARGETS.peakRssMb} MB`,
      met: baseError === undefined && baseOk !== false,
      error: baseError,
    });
    if (baseRss !== undefined && fullRss !== undefined) {
      const grewMb = (fullRss - baseRss) / 1e6;
      rows.push({
        section: loop,
        name: `peak RSS growth, ${RSS_BASE_MESSAGES.toLocaleString('en-US')} → ${n.toLocaleString('en-US')} msgs`,
        messages: 0,
        bytes: 0,
        seconds: 0,
        versus: `${grewMb >= 0 ? '+' : ''}${grewMb.toFixed(0)} MB`,
        target: `≤ +${TARGETS.rssGrowthMb} MB`,
        met: grewMb <= TARGETS.rssGrowthMb,
      });
      growth = { baseMessages: RSS_BASE_MESSAGES, basePeakRssBytes: baseRss, peakRssBytes: fullRss, growthBytes: fullRss - baseRss };
    }
  }

  progress('poplift re-run, nothing new');
  const again = await popliftRun(dest, dovecot.ports.pop3s, dovecot.ports.imaps, source);
  const againError = check(again, n, false);
  progress('node -e 0 start-up (median of 5)');
  const startup = await nodeStartup(root);
  const beyond = again.measurement.seconds - startup.seconds;
  rows.push({
    ...popliftRow(loop, 'poplift re-run (nothing new)', again, n, mailbox.bytes),
    versus: `${beyond.toFixed(2)} s beyond start-up`,
    target: `< ${TARGETS.rerunBeyondStartupSeconds} s beyond start-up`,
    met: againError === undefined && beyond < TARGETS.rerunBeyondStartupSeconds,
    error: againError,
  });
  rows.push({
    section: loop,
    name: 'node -e 0 (start-up)',
    messages: 0,
    bytes: 0,
    seconds: startup.seconds,
    peakRssBytes: startup.peakRssBytes,
  });

  let realMail: Record<string, unknown> | undefined;
  if (o.realMailMessages > 0) {
    // Whole processes on a mailbox with the shape of real mail, each against a floor of the same run.
    const real = makeRealMailbox({ messages: o.realMailMessages, seed: o.seed });
    const count = real.messages.length;
    const section =
      `real-mail-shaped mailbox, whole processes: ${count} messages, ${(real.bytes / 1e6).toFixed(1)} MB, ${real.withoutMessageId} without ` +
      `Message-ID, ${real.eightBit} with an 8-bit Subject, ${real.duplicates} delivered twice, and the test corpus's hard cases`;
    progress(section);
    for (const m of real.messages) dovecot.deliver(realSource, m);
    await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: realSource.name, password: realSource.password });
    const a = await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: realSource.name, password: realSource.password });
    rows.push({ section, name: 'floor a: POP3, all RETRs pipelined', messages: count, bytes: real.bytes, seconds: a.seconds });
    const b = await imapFloor({
      host,
      port: dovecot.ports.imaps,
      ca,
      user: realFloor.name,
      password: realFloor.password,
      mailbox: 'FloorReal',
      messages: real.messages,
    });
    rows.push({
      section,
      name: `floor b: IMAP MULTIAPPEND x${FLOOR_BATCH}, LITERAL+`,
      messages: count,
      bytes: real.bytes,
      seconds: b.seconds,
    });
    const floor = a.seconds + b.seconds;
    rows.push({ section, name: 'floor = a + b', messages: count, bytes: real.bytes, seconds: floor });
    progress('real-mail: poplift migrate');
    const run = await popliftRun(realDest, dovecot.ports.pop3s, dovecot.ports.imaps, realSource);
    const s = run.summary;
    // Duplicates (the same bytes twice, a shared Message-ID) are found, not uploaded: every message is one or the other.
    const runError =
      run.error ??
      (s !== undefined && s.found === count && s.failed === 0 && s.appended + s.duplicates === count
        ? undefined
        : `expected ${count} found, each appended or a duplicate; summary says found ${s?.found}, appended ${s?.appended}, duplicates ${s?.duplicates}, failed ${s?.failed}`);
    const ratio = run.measurement.seconds / floor;
    rows.push({
      ...popliftRow(section, 'poplift migrate (process)', run, count, real.bytes),
      versus: `${ratio.toFixed(2)} × floor`,
      target: `≤ ${TARGETS.loopbackRatio} × floor`,
      met: runError === undefined && ratio <= TARGETS.loopbackRatio,
      error: runError,
    });
    progress('real-mail: minimal log-in-and-list client (process)');
    const noopSettings = {
      host,
      pop3Port: dovecot.ports.pop3s,
      imapPort: dovecot.ports.imaps,
      caFile: dovecot.certPath,
      pop3User: realSource.name,
      pop3Password: realSource.password,
      imapUser: realDest.name,
      imapPassword: realDest.password,
      folder: FOLDER,
    };
    const noopScript = join(dirname(fileURLToPath(import.meta.url)), 'noop-floor.js');
    const noopFloors: ChildMeasurement[] = [];
    for (let i = 0; i < 3; i++)
      noopFloors.push(
        await measureChild(
          process.execPath,
          [noopScript],
          { PATH: process.env.PATH ?? '', NOOP_FLOOR: JSON.stringify(noopSettings) },
          root,
        ),
      );
    const failedFloor = noopFloors.find((f) => f.code !== 0);
    if (failedFloor) throw new Error(`the log-in-and-list floor failed: ${failedFloor.stderr.trim().slice(-400)}`);
    noopFloors.sort((x, y) => x.seconds - y.seconds);
    const noopFloor = noopFloors[1]!;
    rows.push({
      section,
      name: 'floor: log in to both, LIST+UIDL and STATUS (process, median of 3)',
      messages: count,
      bytes: 0,
      seconds: noopFloor.seconds,
      peakRssBytes: noopFloor.peakRssBytes,
    });
    progress('real-mail: poplift re-run, nothing new');
    const rerun = await popliftRun(realDest, dovecot.ports.pop3s, dovecot.ports.imaps, realSource);
    const rs = rerun.summary;
    const rerunError =
      rerun.error ??
      (rs !== undefined && rs.found === count && rs.appended === 0 && rs.failed === 0
        ? undefined
        : `expected nothing appended; summary says found ${rs?.found}, appended ${rs?.appended}, failed ${rs?.failed}`);
    const rerunRatio = rerun.measurement.seconds / noopFloor.seconds;
    rows.push({
      ...popliftRow(section, 'poplift re-run, nothing new (process)', rerun, count, 0),
      versus: `${rerunRatio.toFixed(2)} × floor (+${(rerun.measurement.seconds - noopFloor.seconds).toFixed(2)} s)`,
      target: `< ${TARGETS.rerunBeyondStartupSeconds} s beyond the floor`,
      met: rerunError === undefined && rerun.measurement.seconds - noopFloor.seconds < TARGETS.rerunBeyondStartupSeconds,
      error: rerunError,
    });
    realMail = {
      messages: count,
      bytes: real.bytes,
      withoutMessageId: real.withoutMessageId,
      eightBit: real.eightBit,
      duplicates: real.duplicates,
      floorSeconds: floor,
      popliftSeconds: run.measurement.seconds,
      ratio,
      summary: run.summary,
      noopFloorSeconds: noopFloor.seconds,
      rerunSeconds: rerun.measurement.seconds,
      rerunRatio,
    };
  }

  let courier: Record<string, unknown> | undefined;
  if (o.courierMessages > 0) {
    const missing = courierMissing();
    if (missing) {
      progress(`Courier destination left out: ${missing}`);
      courier = { skipped: missing };
    } else {
      const messages = mailbox.messages.slice(0, o.courierMessages);
      const bytes = messages.reduce((sum, m) => sum + m.length, 0);
      const section = `Courier-IMAP destination (no LITERAL+, no MULTIAPPEND; plain IMAP on loopback), first ${messages.length} messages`;
      progress(`starting Courier: ${section}`);
      const server = await startCourier();
      cleanups.push(() => server.stop());
      const floorTarget = await server.addUser('floor');
      const target = await server.addUser('dest');
      for (const m of messages) dovecot.deliver(courierSource, m);
      await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: courierSource.name, password: courierSource.password });
      progress('Courier: floor (a)');
      const a = await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: courierSource.name, password: courierSource.password });
      rows.push({ section, name: 'floor a: POP3, all RETRs pipelined', messages: messages.length, bytes, seconds: a.seconds });
      progress('Courier: floor (b)');
      const b = await syncAppendFloor({
        host,
        port: server.imap!.port,
        user: floorTarget.login,
        password: floorTarget.password,
        mailbox: 'INBOX.FloorCourier',
        messages,
      });
      rows.push({ section, name: 'floor b: IMAP APPEND, wait for +, TCP_NODELAY', messages: messages.length, bytes, seconds: b.seconds });
      const floor = a.seconds + b.seconds;
      rows.push({ section, name: 'floor = a + b', messages: messages.length, bytes, seconds: floor });
      progress('Courier: poplift migrate');
      const run = await popliftRun(target, dovecot.ports.pop3s, server.imap!.port, courierSource, dovecot.certPath, 'imap');
      const runError = check(run, messages.length, true);
      const ratio = run.measurement.seconds / floor;
      rows.push({
        ...popliftRow(section, 'poplift migrate', run, messages.length, bytes),
        versus: `${ratio.toFixed(2)} × floor`,
        target: `≤ ${TARGETS.loopbackRatio} × floor`,
        met: runError === undefined && ratio <= TARGETS.loopbackRatio,
        error: runError,
      });
      // The same messages from the same source into Dovecot, right after: what "as fast as Dovecot → Dovecot" means in this run.
      progress('Courier: the same messages, poplift migrate into Dovecot');
      const reference = await popliftRun(courierReference, dovecot.ports.pop3s, dovecot.ports.imaps, courierSource);
      const referenceError = check(reference, messages.length, true);
      rows.push({
        ...popliftRow(section, 'poplift migrate, same messages into Dovecot (imaps)', reference, messages.length, bytes),
        error: referenceError,
      });
      const versusDovecot = run.measurement.seconds / reference.measurement.seconds;
      rows.push({
        section,
        name: 'poplift into Courier / into Dovecot',
        messages: 0,
        bytes: 0,
        seconds: 0,
        versus: `${versusDovecot.toFixed(2)} × Dovecot → Dovecot`,
        target: `≤ ${TARGETS.courierVersusDovecot} × Dovecot → Dovecot`,
        met: runError === undefined && referenceError === undefined && versusDovecot <= TARGETS.courierVersusDovecot,
      });
      courier = {
        messages: messages.length,
        bytes,
        floorSeconds: floor,
        minimalClientSeconds: b.seconds,
        popliftSeconds: run.measurement.seconds,
        dovecotSeconds: reference.measurement.seconds,
        versusDovecot,
        popliftCommand: run.command,
        popliftSummary: run.summary,
        dovecotCommand: reference.command,
        dovecotSummary: reference.summary,
      };
    }
  }

  let latency: Record<string, unknown> | undefined;
  if (!o.skipLatency) {
    const rtt = 2 * o.latencyMs;
    const section = `${rtt} ms RTT (FaultProxy, ${o.latencyMs} ms each way), first ${latencyMessages.length} messages`;
    progress(`slow link: ${section}`);
    for (const m of latencyMessages) dovecot.deliver(slowSource, m);
    await pop3Floor({ host, port: dovecot.ports.pop3s, ca, user: slowSource.name, password: slowSource.password });
    const popProxy = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, delayMs: o.latencyMs });
    cleanups.push(() => popProxy.stop());
    const imapProxy = await FaultProxy.start({ targetPort: dovecot.ports.imaps, delayMs: o.latencyMs });
    cleanups.push(() => imapProxy.stop());
    const ln = latencyMessages.length;

    progress('slow link: floor (a)');
    const slowA = await pop3Floor({ host, port: popProxy.port, ca, user: slowSource.name, password: slowSource.password });
    rows.push({ section, name: 'floor a: POP3, all RETRs pipelined', messages: ln, bytes: latencyBytes, seconds: slowA.seconds });
    progress('slow link: floor (b)');
    const slowB = await imapFloor({
      host,
      port: imapProxy.port,
      ca,
      user: floorUser.name,
      password: floorUser.password,
      mailbox: 'FloorSlow',
      messages: latencyMessages,
    });
    rows.push({
      section,
      name: `floor b: IMAP MULTIAPPEND x${FLOOR_BATCH}, LITERAL+`,
      messages: ln,
      bytes: latencyBytes,
      seconds: slowB.seconds,
    });
    const floorSlow = slowA.seconds + slowB.seconds;
    rows.push({ section, name: 'floor = a + b', messages: ln, bytes: latencyBytes, seconds: floorSlow });

    progress('slow link: poplift migrate');
    const slow = await popliftRun(slowDest, popProxy.port, imapProxy.port, slowSource);
    const slowError = check(slow, ln, true);
    const ratioSlow = slow.measurement.seconds / floorSlow;
    rows.push({
      ...popliftRow(section, 'poplift migrate', slow, ln, latencyBytes),
      versus: `${ratioSlow.toFixed(2)} × floor`,
      target: `≤ ${TARGETS.latencyRatio} × floor`,
      met: slowError === undefined && ratioSlow <= TARGETS.latencyRatio,
      error: slowError,
    });
    latency = {
      oneWayDelayMs: o.latencyMs,
      messages: ln,
      bytes: latencyBytes,
      proxyConnections: popProxy.connections + imapProxy.connections,
      popliftCommand: slow.command,
      popliftSummary: slow.summary,
    };
  }

  const providers: Array<Record<string, unknown>> = [];
  if (!o.skipProviders) {
    const pmessages = mailbox.messages.slice(0, o.providerMessages);
    const pbytes = pmessages.reduce((sum, m) => sum + m.length, 0);
    for (const p of PROVIDERS) {
      const rtt = 2 * o.latencyMs;
      const section = `${p.label}, ${rtt} ms RTT, first ${pmessages.length} messages`;
      progress(`destination without MULTIAPPEND: ${section}`);
      const server = await startDovecot(personality(p.personality));
      cleanups.push(() => server.stop());
      const pca = readFileSync(server.certPath);
      const psource = server.addUser('source');
      const pdest = server.addUser('dest');
      const pfloor = server.addUser('floor');
      for (const m of pmessages) server.deliver(psource, m);
      await new Promise((r) => setTimeout(r, 1100));
      await pop3Floor({ host, port: server.ports.pop3s, ca: pca, user: psource.name, password: psource.password });
      const popProxy = await FaultProxy.start({ targetPort: server.ports.pop3s, delayMs: o.latencyMs });
      cleanups.push(() => popProxy.stop());
      const imapProxy = await FaultProxy.start({ targetPort: server.ports.imaps, delayMs: o.latencyMs });
      cleanups.push(() => imapProxy.stop());
      const a = await pop3Floor({ host, port: popProxy.port, ca: pca, user: psource.name, password: psource.password });
      rows.push({ section, name: 'floor a: POP3, all RETRs pipelined', messages: pmessages.length, bytes: pbytes, seconds: a.seconds });
      const b = await imapParallelFloor({
        host,
        port: imapProxy.port,
        ca: pca,
        user: pfloor.name,
        password: pfloor.password,
        mailbox: 'Floor',
        messages: pmessages,
        connections: PROVIDER_FLOOR_CONNECTIONS,
      });
      rows.push({
        section,
        name: `floor b: single APPENDs over ${b.connections} connections, ${b.literals} literals`,
        messages: pmessages.length,
        bytes: pbytes,
        seconds: b.seconds,
      });
      const floor = a.seconds + b.seconds;
      rows.push({ section, name: 'floor = a + b', messages: pmessages.length, bytes: pbytes, seconds: floor });
      const run = await popliftRun(pdest, popProxy.port, imapProxy.port, psource, server.certPath);
      const runError = check(run, pmessages.length, true);
      const ratio = run.measurement.seconds / floor;
      rows.push({
        ...popliftRow(section, 'poplift migrate', run, pmessages.length, pbytes),
        versus: `${ratio.toFixed(2)} × floor`,
        target: `≤ ${TARGETS.providerRatio} × floor`,
        met: runError === undefined && ratio <= TARGETS.providerRatio,
        error: runError,
      });
      providers.push({
        personality: p.personality,
        messages: pmessages.length,
        bytes: pbytes,
        floorSeconds: floor,
        popliftSeconds: run.measurement.seconds,
        ratio,
        peakRssBytes: run.measurement.peakRssBytes,
      });
      await popProxy.stop();
      await imapProxy.stop();
      await server.stop();
    }
  }

  const header =
    `poplift benchmark: ${n.toLocaleString('en-US')} messages, ${(mailbox.bytes / 1e6).toFixed(1)} MB ` +
    `(median ${(mailbox.medianBytes / 1024).toFixed(1)} KB, ${mailbox.overOneMb} over 1 MB, largest ${(mailbox.largestBytes / 1e6).toFixed(1)} MB, seed ${o.seed})\n` +
    `${dovecotVersion.startsWith('2') ? `Dovecot ${dovecotVersion}` : dovecotVersion} on 127.0.0.1, every connection over TLS (pop3s/imaps); ` +
    `Node ${process.version}; ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB\n` +
    `MB = 10^6 octets of message data; poplift times are wall clock of the child process, Node start-up included.` +
    (o.skipLatency
      ? '\nslow-link runs skipped (--skip-latency)'
      : `\nslow-link runs use the first ${latencyMessages.length} messages (--latency-messages), ${(latencyBytes / 1e6).toFixed(1)} MB`);
  process.stdout.write(`\n${header}\n\n${formatTable(rows)}\n`);

  const report = {
    finishedAt: new Date().toISOString(),
    options: o,
    environment: {
      node: process.version,
      dovecot: dovecotVersion,
      cpus: cpus().length,
      totalMemBytes: totalmem(),
      transport: 'TLS (pop3s/imaps)',
    },
    mailbox: {
      messages: n,
      bytes: mailbox.bytes,
      medianBytes: mailbox.medianBytes,
      overOneMb: mailbox.overOneMb,
      largestBytes: mailbox.largestBytes,
    },
    targets: TARGETS,
    rows: rows.map((r) => ({
      ...r,
      messagesPerSecond: r.seconds > 0 && r.messages > 0 ? r.messages / r.seconds : undefined,
      megabytesPerSecond: r.seconds > 0 && r.bytes > 0 ? r.bytes / 1e6 / r.seconds : undefined,
    })),
    poplift: {
      command: first.command,
      first: { summary: first.summary, seconds: first.measurement.seconds, peakRssBytes: first.measurement.peakRssBytes },
      rerun: {
        summary: again.summary,
        seconds: again.measurement.seconds,
        peakRssBytes: again.measurement.peakRssBytes,
        nodeStartupSeconds: startup.seconds,
      },
    },
    latency,
    providers,
    courier,
    realMail,
    rssGrowth: growth,
  };
  const out = join(root, '.bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'last.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nJSON: ${join(out, 'last.json')}\n`);
  return rows.some((r) => r.error) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
} finally {
  await cleanup();
}
process.exit(code);
