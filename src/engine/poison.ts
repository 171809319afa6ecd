/**
 * Messages that make progress impossible. A session that drops while a
 * message is read or uploaded is charged to that message; a message charged
 * `--retries` times with nothing settled in between fails ("the server drops
 * the connection on it") and the run goes on with the others. The journal
 * remembers such failures; after POISON_RUNS runs in a row that failed on
 * it, a message is skipped without a try until the user asks for it
 * (`--retry-failed`).
 */

/** Runs in a row that failed on a message before later runs skip it. */
export const POISON_RUNS = 3;

export interface Charge {
  uidl: string;
  side: 'POP3' | 'IMAP';
}

export class PoisonTracker {
  private readonly charges = new Map<string, { count: number; progressMark: number }>();

  /** `progress` counts the messages settled so far: it only grows. */
  constructor(
    private readonly limit: number,
    private readonly progress: () => number,
  ) {}

  /** Whether a message was charged with a drop on the destination: it is uploaded alone, so a drop names it alone. */
  suspect(uidl: string): boolean {
    return this.charges.has(uidl);
  }

  /**
   * Charges a drop to the messages it hit; returns those charged `limit`
   * times in a row (nothing was settled between their drops). A drop that
   * hit several messages at once (an upload batch) names none of them: they
   * become suspects, uploaded alone from then on, and only a drop that hits
   * one message alone counts against it.
   */
  charge(hit: readonly Charge[]): Charge[] {
    const now = this.progress();
    if (hit.length > 1) {
      for (const c of hit) if (!this.charges.has(c.uidl)) this.charges.set(c.uidl, { count: 0, progressMark: now });
      return [];
    }
    const exhausted: Charge[] = [];
    for (const c of hit) {
      const before = this.charges.get(c.uidl);
      const count = before !== undefined && before.progressMark === now ? before.count + 1 : 1;
      this.charges.set(c.uidl, { count, progressMark: now });
      if (this.limit > 0 && count >= this.limit) exhausted.push(c);
    }
    return exhausted;
  }
}
