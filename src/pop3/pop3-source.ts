/**
 * The POP3 driver as the engine sees it: a MailSource over one Pop3Session.
 * Message numbers are this session's; commit() is QUIT, which is when a POP3
 * server removes what DELE marked (RFC 1939 UPDATE state).
 */
import { Listing } from '../store/listing.js';
import type { DeleteRequest, DeleteResult, MailSource, RetrievedInfo, RetrieveOptions } from '../store/mail-store.js';
import type { Pop3Capabilities } from './pop3-auth.js';
import { Pop3Session, type Pop3ConnectOptions } from './pop3-session.js';
import { listingWindow } from './pop3-window.js';

export class Pop3Source implements MailSource {
  /** The last list(): what its rules (Listing.identified) say of a message holds for its DELE too. */
  private listed: Listing | undefined;
  /**
   * Why this server is known to list only part of the mailbox per session
   * (Listing.movingWindow): set by the caller, who knows the providers.
   */
  movingWindow: string | undefined;

  private constructor(private readonly session: Pop3Session) {}

  static async connect(options: Pop3ConnectOptions): Promise<Pop3Source> {
    return new Pop3Source(await Pop3Session.connect(options));
  }

  get server(): string {
    return this.session.server;
  }

  /** See Pop3ConnectOptions.capabilitiesBeforeLogin. */
  get capabilitiesBeforeLogin(): Pop3Capabilities | undefined {
    return this.session.capabilitiesBeforeLogin;
  }

  /** The greeting's text and CAPA's first words, for recognising the provider. */
  get greeting(): string | undefined {
    return this.session.greeting;
  }

  get capabilities(): ReadonlySet<string> {
    return this.session.capabilities;
  }

  get readsHeaders(): boolean {
    return this.session.capabilities.has('TOP');
  }

  async list(): Promise<Listing> {
    const listing = await this.session.listing();
    // The session keeps its listing to prove each DELE: the engine's shares its columns when it can.
    const shared =
      listing.ids !== undefined && !listing.anyMissing
        ? Listing.sharing(listing.numbers, listing.sizeColumn, listing.ids, (p) => listing.identifiableAt(p))
        : undefined;
    this.listed =
      shared ??
      new Listing(
        listing.numbers,
        (n) => listing.size(n)!,
        (n) => (listing.hasUidl ? listing.uidl(n) : String(n)),
        listing.hasUidl,
        (n) => listing.identifiable(n),
        listing.idBytes,
      );
    this.listed.window = listingWindow(this.session.greeting, this.session.implementation);
    this.listed.movingWindow = this.movingWindow;
    return this.listed;
  }

  retrieve(
    numbers: readonly number[],
    onMessage: (n: number, content: Buffer, info: RetrievedInfo) => void | Promise<void>,
    options?: RetrieveOptions,
  ): Promise<void> {
    return this.session.retrMany(numbers, (n, body, info) => onMessage(n, body, { sizeSuspect: info.sizeSuspect }), options);
  }

  readHeaders(
    numbers: readonly number[],
    onHeaders: (n: number, head: Buffer) => void | Promise<void>,
    options?: RetrieveOptions,
  ): Promise<void> {
    return this.session.topMany(numbers, 0, onHeaders, options);
  }

  async markDeleted(requests: readonly DeleteRequest[], options: { stopWhen?: () => boolean } = {}): Promise<DeleteResult> {
    // A message the listing does not identify is never sent to DELE, whatever the caller asks.
    const unidentified = requests.filter((r) => this.listed?.identified(r.uidl) !== true);
    const asked = requests.filter((r) => this.listed?.identified(r.uidl) === true);
    const expected = new Map(asked.map((r) => [r.n, { uidl: r.uidl, size: r.size }] as const));
    const result = await this.session.deleMany(
      asked.map((r) => r.n),
      { expected, stopWhen: options.stopWhen },
    );
    return {
      marked: result.deleted,
      kept: [
        ...unidentified.map((r) => ({ n: r.n, reason: 'this session does not give every message a unique, well-formed UIDL of its own' })),
        ...result.unverified,
        ...result.refused.map(({ n, error }) => ({ n, reason: error.message })),
        ...result.unanswered.map((n) => ({ n, reason: 'the server did not answer DELE before poplift stopped' })),
        ...result.notSent.map((n) => ({ n, reason: 'poplift stopped before deleting it' })),
      ],
      stopped: result.stopped,
    };
  }

  commit(): Promise<void> {
    return this.session.quit();
  }

  forget(): Promise<void> {
    return this.session.rset();
  }

  close(): void {
    this.session.close();
  }
}
