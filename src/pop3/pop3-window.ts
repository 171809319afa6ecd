/**
 * POP3 servers known to list only part of a mailbox in every session, so
 * that older messages may never be listed: recognised by their greeting or
 * their CAPA IMPLEMENTATION line, with the limit their documentation gives.
 * (Gmail's window moves on as messages are downloaded: the engine's further
 * sessions reach the rest, so it is not one of these.)
 */
import type { ListingWindow } from '../store/listing.js';

/**
 * WildDuck (lib/pop3/connection.js greets "+OK <name> ready for requests
 * from …", the name being "WildDuck POP3 Server" unless configured; CAPA has
 * "IMPLEMENTATION WildDuck-v<version>" unless disableVersionString). Its
 * pop3.js lists the newest pop3.maxMessages messages of INBOX (250 in
 * config/pop3.toml, or the user's pop3MaxMessages), and never again a
 * message older than the oldest one a session listed.
 */
const WILDDUCK_GREETING = /^WildDuck POP3 Server ready for requests from /i;
const WILDDUCK_IMPLEMENTATION = /^WildDuck-v/i;
const WILDDUCK_DEFAULT_LIMIT = 250;

export function listingWindow(greeting: string | undefined, implementation: string | undefined): ListingWindow | undefined {
  if (
    (greeting !== undefined && WILDDUCK_GREETING.test(greeting)) ||
    (implementation !== undefined && WILDDUCK_IMPLEMENTATION.test(implementation))
  ) {
    return {
      server: 'WildDuck',
      limit: WILDDUCK_DEFAULT_LIMIT,
      advice:
        "move this mailbox over IMAP (WildDuck serves it whole), or have the server's administrator raise its POP3 limit (pop3.maxMessages, or the user's pop3MaxMessages)",
    };
  }
  return undefined;
}
