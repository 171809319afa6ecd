/**
 * The little the floor clients share: a TLS connection verified against the
 * harness certificate, and reading CRLF lines before the bulk phase starts.
 * Kept apart from poplift's code so the floor measures the servers and the
 * link, not poplift's own drivers.
 */
import type { Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';

export interface Endpoint {
  host: string;
  port: number;
  ca: Buffer;
}

export function openTls(e: Endpoint): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: e.host, port: e.port, ca: e.ca, minVersion: 'TLSv1.2' });
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Hands out CRLF-terminated lines; data after the last complete line stays buffered. */
export class LineReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.deliver();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    const fail = (err: Error) => {
      this.failure ??= err;
      this.waiting?.reject(this.failure);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  next(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.deliver();
      // deliver() may have answered the waiter or recorded a failure.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.waiting && this.failure) reject(this.failure);
    });
  }

  private deliver(): void {
    if (this.waiting === undefined) return;
    const eol = this.buffer.indexOf('\r\n');
    if (eol < 0) return;
    const line = this.buffer.subarray(0, eol).toString('latin1');
    this.buffer = this.buffer.subarray(eol + 2);
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(line);
  }

  /** Stops reading lines and returns what arrived after the last one. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }
}

/** Writes and waits for 'drain' when the socket's buffer is full, so megabytes are not queued in memory. */
export async function writeAll(socket: Socket, data: Buffer | string): Promise<void> {
  if (socket.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('connection closed while writing'));
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

export function elapsedSince(started: number): number {
  return (performance.now() - started) / 1000;
}
