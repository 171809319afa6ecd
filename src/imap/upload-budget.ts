/**
 * --max-bytes-per-run and --rate: how much a run may upload and how fast,
 * for accounts with a daily allowance (Google Workspace: about 500 MB a day)
 * or a provider that throttles a fast client (Microsoft 365). Pure: the
 * caller passes the clock and does the waiting.
 */
import { option } from '../option-hint.js';

/** An upload pace: octets per second or messages per second. */
export type RateLimit = { bytesPerSecond: number } | { messagesPerSecond: number };

export interface RunLimits {
  maxBytesPerRun: number | undefined;
  rate: RateLimit | undefined;
}

export class UploadBudget {
  private uploadedBytes = 0;
  private uploadedMessages = 0;
  /** When the next upload may start under --rate, in the caller's clock (ms). */
  private nextAt = 0;

  constructor(private readonly limits: RunLimits) {}

  get uploaded(): { bytes: number; messages: number } {
    return { bytes: this.uploadedBytes, messages: this.uploadedMessages };
  }

  /**
   * Whether a message of `bytes` still fits in this run. The first message
   * always does, so a message larger than the whole budget cannot stop every
   * run at the same place.
   */
  admits(bytes: number): boolean {
    const max = this.limits.maxBytesPerRun;
    if (max === undefined || this.uploadedMessages === 0) return true;
    return this.uploadedBytes + bytes <= max;
  }

  /**
   * How long to wait before uploading `bytes` (0: now), given the time now
   * in ms, and counts the upload as made at that moment. Call it once per
   * message (or per batch, with its total) just before sending.
   */
  take(bytes: number, nowMs: number, messages = 1): number {
    const start = Math.max(nowMs, this.nextAt);
    this.nextAt = start + spacing(this.limits.rate, bytes, messages);
    this.uploadedBytes += bytes;
    this.uploadedMessages += messages;
    return start - nowMs;
  }

  /** The summary's "stopped" sentence once admits() said no. */
  stopReason(): string {
    const mib = ((this.limits.maxBytesPerRun ?? 0) / 1024 / 1024).toFixed(1).replace(/\.0$/, '');
    return `${option('maxBytesPerRun')} reached (${mib} MiB uploaded in this run): what is done is recorded; run again to go on.`;
  }
}

/** The time an upload takes up under the rate, in ms. */
function spacing(rate: RateLimit | undefined, bytes: number, messages: number): number {
  if (rate === undefined) return 0;
  if ('bytesPerSecond' in rate) return (bytes / rate.bytesPerSecond) * 1000;
  return (messages / rate.messagesPerSecond) * 1000;
}
