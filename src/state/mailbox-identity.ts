/**
 * Which POP3 mailbox a URL reaches, as the server would see it: user, the
 * address the host resolves to, and the port. It keys the lock and the
 * batch scheduler, so that `localhost` and `127.0.0.1`, or a name and its
 * address, are one mailbox and never run at once.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface MailboxAddress {
  host: string;
  port: number;
  user: string;
}

function isLoopbackAddress(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, '');
  if (isIP(v4) === 4) return v4.startsWith('127.') || v4 === '0.0.0.0';
  return address === '::1' || address === '::';
}

function v4Value(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/**
 * One address for a set of addresses: every loopback address is this
 * machine (a server reached as localhost over ::1 is the one on 127.0.0.1);
 * otherwise the lowest IPv4 address, else the lowest IPv6 address, so that
 * the order a resolver returns does not matter.
 */
export function canonicalAddress(addresses: readonly string[]): string | undefined {
  if (addresses.some(isLoopbackAddress)) return 'loopback';
  const plain = addresses.map((a) => a.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '').toLowerCase());
  const v4 = plain.filter((a) => isIP(a) === 4).sort((a, b) => v4Value(a) - v4Value(b));
  if (v4.length > 0) return v4[0];
  const v6 = plain.filter((a) => isIP(a) === 6).sort();
  return v6[0];
}

async function resolveAll(host: string, timeoutMs: number): Promise<string[] | undefined> {
  if (isIP(host) !== 0) return [host];
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      lookup(host, { all: true }).then((list) => list.map((a) => a.address)),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
        timer.unref();
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `user` (lower case: servers that ignore case must not get two runs),
 * address and port as one string. A name that does not resolve is keyed by
 * the name itself; connecting will fail and say why.
 */
export async function mailboxIdentity(server: MailboxAddress, timeoutMs: number): Promise<string> {
  const addresses = await resolveAll(server.host, timeoutMs);
  const address = (addresses && canonicalAddress(addresses)) ?? `name:${server.host.toLowerCase()}`;
  return JSON.stringify(['pop3', server.user.toLowerCase(), address, server.port]);
}
