/**
 * Every real server the harness can start, by name, and describeServers():
 * a test body run once per server (or per source → destination pair), each
 * server started at most once per test file and stopped after it. A server
 * whose binaries are absent is reported as skipped with the reason in the
 * title; any other failure to start fails the tests.
 */
import { afterAll, describe } from 'vitest';
import { cyrusMissing, startCyrus } from './cyrus.js';
import { courierMissing, startCourier } from './courier.js';
import { skipIntegration } from './dovecot.js';
import { dovecotMissing, startDovecotServer } from './dovecot-server.js';
import type { MailServer, ServerName } from './mail-server.js';
import { mailutilsMissing, startMailutils } from './mailutils.js';
import { hoodiecrowMissing, startHoodiecrow } from './hoodiecrow.js';
import { popa3dMissing, startPopa3d } from './popa3d.js';
import { solidPop3dMissing, startSolidPop3d } from './solid-pop3d.js';
import { startWildDuckPop3, wildDuckMissing } from './wildduck-pop3.js';

export type { MailServer, MailUser, ServerName } from './mail-server.js';

interface Entry {
  missing: () => string | undefined;
  start: () => Promise<MailServer>;
  pop3: boolean;
  imap: boolean;
}

export const SERVERS: Record<ServerName, Entry> = {
  dovecot: { missing: dovecotMissing, start: () => startDovecotServer(), pop3: true, imap: true },
  cyrus: { missing: cyrusMissing, start: startCyrus, pop3: true, imap: true },
  courier: { missing: courierMissing, start: startCourier, pop3: true, imap: true },
  mailutils: { missing: mailutilsMissing, start: startMailutils, pop3: true, imap: true },
  popa3d: { missing: popa3dMissing, start: startPopa3d, pop3: true, imap: false },
  'solid-pop3d': { missing: solidPop3dMissing, start: startSolidPop3d, pop3: true, imap: false },
  hoodiecrow: { missing: hoodiecrowMissing, start: startHoodiecrow, pop3: false, imap: true },
  wildduck: { missing: wildDuckMissing, start: () => startWildDuckPop3(), pop3: true, imap: false },
};

/** Why the server cannot run here, or undefined. */
export function serverMissing(name: ServerName): string | undefined {
  if (skipIntegration()) return 'POPLIFT_SKIP_INTEGRATION=1';
  return SERVERS[name].missing();
}

const pool = new Map<ServerName, Promise<MailServer>>();

/** The file's instance of a server, started on first use. */
export function server(name: ServerName): Promise<MailServer> {
  let p = pool.get(name);
  if (!p) {
    p = SERVERS[name].start().then((s) => {
      console.log(`${s.product} started in ${s.startMs} ms`);
      return s;
    });
    pool.set(name, p);
  }
  return p;
}

async function stopAll(): Promise<void> {
  const all = [...pool.values()];
  pool.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.stop()));
}

export interface EachContext {
  name: ServerName;
  server: () => Promise<MailServer>;
}

export interface PairContext {
  source: ServerName;
  destination: ServerName;
  /** Both servers; one instance when source and destination are the same product. */
  servers: () => Promise<{ source: MailServer; destination: MailServer }>;
}

export function describeServers(title: string, spec: { each: ServerName[] }, body: (ctx: EachContext) => void): void;
export function describeServers(title: string, spec: { pairs: Array<[ServerName, ServerName]> }, body: (ctx: PairContext) => void): void;
export function describeServers(
  title: string,
  spec: { each: ServerName[] } | { pairs: Array<[ServerName, ServerName]> },
  body: ((ctx: EachContext) => void) | ((ctx: PairContext) => void),
): void {
  describe(title, () => {
    afterAll(stopAll, 60_000);
    if ('each' in spec) {
      for (const name of spec.each) {
        const missing = serverMissing(name);
        if (missing)
          describe.skip(`${name} (skipped: ${missing})`, () => (body as (ctx: EachContext) => void)({ name, server: () => server(name) }));
        else describe(name, () => (body as (ctx: EachContext) => void)({ name, server: () => server(name) }));
      }
      return;
    }
    for (const [source, destination] of spec.pairs) {
      const missing = [serverMissing(source), serverMissing(destination)].filter((m) => m !== undefined);
      const ctx: PairContext = {
        source,
        destination,
        servers: async () => ({ source: await server(source), destination: await server(destination) }),
      };
      const name = `${source} → ${destination}`;
      if (missing.length)
        describe.skip(`${name} (skipped: ${[...new Set(missing)].join('; ')})`, () => (body as (ctx: PairContext) => void)(ctx));
      else describe(name, () => (body as (ctx: PairContext) => void)(ctx));
    }
  });
}
