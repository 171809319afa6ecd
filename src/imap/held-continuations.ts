/**
 * Recognises a server whose '+' is held by its socket behind the tagged
 * reply it follows. Sent behind the previous literal, the next APPEND saves
 * a round trip; but a server that does not set TCP_NODELAY (Courier-IMAP)
 * then holds its '+' behind its tagged reply until we acknowledge that
 * reply, and we, having nothing to send, delay the ACK: 40 ms or more per
 * message. Such a server is answered in step instead, each reply
 * acknowledged by the next command. Pure: the caller passes the times.
 */

/**
 * A '+' this long after the tagged reply it was sent behind was held by the
 * server's socket (Nagle's algorithm) until our delayed ACK: 40 ms or more
 * on every common system, while a server that answers at once sends both
 * within microseconds.
 */
export const HELD_CONTINUATION_MS = 25;
/** Held '+' replies, and more than half of those seen, before a connection stops sending the next APPEND early. */
export const HELD_CONTINUATIONS_TO_SWITCH = 3;

export class HeldContinuations {
  /** '+' replies to an APPEND sent behind the previous literal: how many came, and how many of them late. */
  private behind = 0;
  private held = 0;
  /** Whether an APPEND that waits for '+' is sent only once the previous one is answered. */
  private step = false;

  get inStep(): boolean {
    return this.step;
  }

  get counts(): { behind: number; held: number } {
    return { behind: this.behind, held: this.held };
  }

  /**
   * Counts a '+' for an APPEND sent before the previous reply was read;
   * `sinceReplyMs` is how long after that reply it came (undefined when
   * the reply read last was another). True when this '+' makes the switch.
   */
  note(sinceReplyMs: number | undefined): boolean {
    this.behind++;
    if (sinceReplyMs !== undefined && sinceReplyMs >= HELD_CONTINUATION_MS) this.held++;
    if (!this.step && this.held >= HELD_CONTINUATIONS_TO_SWITCH && 2 * this.held > this.behind) {
      this.step = true;
      return true;
    }
    return false;
  }
}
