/**
 * Why a mailbox run ends before every message is settled. The reason is
 * what the engine acts on; the message is only for people.
 */
export type StopReason =
  /** SIGINT/SIGTERM: the user asked poplift to stop. */
  | 'interrupted'
  /** --max-errors messages failed. */
  | 'max-errors'
  /** The destination account is full. */
  | 'over-quota'
  /** The destination refuses uploads for longer than a run waits (a daily quota): the next run goes on. */
  | 'run-later'
  /** Some messages were neither uploaded nor found, with no other reason. */
  | 'incomplete';

export class StopSignal {
  private reasonValue: StopReason | undefined;
  private messageValue: string | undefined;

  /** @param requested polled for a stop the user asked for (a signal) */
  constructor(private readonly requested: () => boolean = () => false) {}

  /** Records the first reason given; later ones are ignored. */
  stop(reason: StopReason, message: string): void {
    if (this.reasonValue !== undefined) return;
    this.reasonValue = reason;
    this.messageValue = message;
  }

  /** The user asked to stop (whether or not the engine has acted on it yet). */
  get userRequested(): boolean {
    return this.requested();
  }

  /** True once the run must take no more messages, for any reason. */
  get stopping(): boolean {
    return this.reasonValue !== undefined || this.requested();
  }

  get reason(): StopReason | undefined {
    return this.reasonValue;
  }

  get message(): string | undefined {
    return this.messageValue;
  }
}
