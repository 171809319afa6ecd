/**
 * The POP3 driver as the engine sees it: a MailSource over one Pop3Session.
 * Message numbers are this session's; commit() is QUIT, which is when a POP3
 * server removes what DELE marked (RFC 1939 UPDATE state).
 */
import { Listing } from '../store/listing.js';
import type { MailSource, RetrieveOptions } from '../store/mail-store.js';
import { Pop3Session, type Pop3ConnectOptions } from './pop3-session.js';

export class Pop3Source implements MailSource {
  private constructor(private readonly session: Pop3Session) {}

  static async connect(options: Pop3ConnectOptions): Promise<Pop3Source> {
    return new Pop3Source(await Pop3Session.connect(options));
  }

  get server(): string {
    return this.session.server;
  }

  get readsHeaders(): boolean {
    return this.session.capabilities.has('TOP');
  }

  async list(): Promise<Listing> {
    // Both commands go out together on a PIPELINING server: one round trip instead of two.
    const [sizes, uidls] = await Promise.all([this.session.list(), this.session.uidl()]);
    const numbers = Float64Array.from(sizes.keys()).sort();
    return new Listing(numbers, (n) => sizes.get(n)!, (n) => (uidls ? uidls.get(n) : String(n)), uidls !== undefined);
  }

  retrieve(numbers: readonly number[], onMessage: (n: number, content: Buffer) => void | Promise<void>, options?: RetrieveOptions): Promise<void> {
    return this.session.retrMany(numbers, onMessage, options);
  }

  readHeaders(numbers: readonly number[], onHeaders: (n: number, head: Buffer) => void | Promise<void>, options?: RetrieveOptions): Promise<void> {
    return this.session.topMany(numbers, 0, onHeaders, options);
  }

  async markDeleted(numbers: readonly number[]): Promise<void> {
    for (const n of numbers) await this.session.dele(n);
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
