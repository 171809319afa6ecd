/**
 * A TCP proxy on 127.0.0.1 in front of one server port, for two uses:
 * injecting network faults at an exact byte of a conversation (a server that
 * closes or resets mid-reply, a link that goes silent), and turning loopback
 * into a link with a chosen one-way latency (and optionally bandwidth) so
 * round trips cost what they cost across the internet.
 *
 * Where a rule fires: at the "fire point", the byte right after the first
 * occurrence of `after` in one direction of one connection, plus `offset`
 * bytes. Bytes before the fire point are delivered (after the delay, in
 * order); what happens next depends on the action:
 *
 * - close: the rest is not forwarded; once the bytes before the fire point
 *   have arrived, both peers get a FIN, as if the server (or client) had shut
 *   down cleanly right there.
 * - reset: the same, but both peers get an RST (ECONNRESET).
 * - stall: nothing more is forwarded either way and the proxy stops reading,
 *   so the peers' writes back up; both sockets stay open until stop().
 * - drop-and-close: a link that dies: everything the proxy holds but has not
 *   delivered (the rest of the chunk and, with delayMs, whatever is still
 *   "on the wire" in either direction) is discarded and both peers get a FIN
 *   at once, without waiting for the delay.
 *
 * Matching starts with the bytes that arrive after the rule is added; a tail
 * of the previous chunk is kept so a pattern split across chunks is found.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type Direction = 'up' /* client->server */ | 'down'; /* server->client */

export type FaultAction = 'close' | 'reset' | 'stall' | 'drop-and-close';

export interface FaultRule {
  direction: Direction;
  /** Fire once the bytes seen in this direction on one connection contain this pattern ('' matches at once). */
  after: string | Buffer;
  /** ...plus this many further bytes (default 0) pass first. */
  offset?: number;
  action: FaultAction;
  /** Default true: only the first connection that matches. */
  once?: boolean;
}

export interface FaultProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** One-way latency added to every chunk in each direction, order preserved. */
  delayMs?: number;
  /** Serialisation rate of each direction of each connection. */
  bandwidthBytesPerSec?: number;
  /**
   * The server's first bytes on each connection (a greeting, a TLS
   * ServerHello) are held this much longer: a server that accepts at once
   * but is slow to answer.
   */
  firstReplyDelayMs?: number;
  /**
   * A connection on which no byte has travelled either way for this long is
   * closed (FIN to both peers), as a server's inactivity timeout does.
   */
  idleCloseMs?: number;
}

/**
 * Bytes one direction may hold for delayed delivery before the sender is
 * paused. Far above a 50 ms link's bandwidth-delay product on loopback
 * speeds, so the proxy adds latency without also acting as a small TCP window.
 */
const QUEUE_HIGH_WATER = 32 * 1024 * 1024;

interface RuleState {
  readonly rule: FaultRule;
  readonly pattern: Buffer;
  readonly offset: number;
  readonly once: boolean;
  /** A once-rule belongs to the first connection that matched it. */
  claimed: boolean;
}

interface QueueItem {
  due: number;
  data?: Buffer;
  /** Runs when the item reaches the head of the queue, after the data before it was written. */
  run?: () => void;
}

interface Candidate {
  state: RuleState;
  /** Index in the current chunk where the rule fires; may lie beyond the chunk. */
  at: number;
}

class Lane {
  private tail: Buffer = Buffer.alloc(0);
  /** Rules whose pattern matched on this lane, with the bytes still to pass before they fire. */
  private readonly armed = new Map<RuleState, number>();
  private readonly queue: QueueItem[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private pausedByUs = false;
  private linkFreeAt = 0;
  private lastDue = 0;
  private answered = false;

  constructor(
    readonly direction: Direction,
    readonly src: Socket,
    readonly dst: Socket,
    private readonly conn: Connection,
  ) {}

  onData(chunk: Buffer): void {
    if (this.conn.halted) return;
    const fire = this.scan(chunk);
    if (fire === undefined) {
      this.enqueue({ due: 0, data: chunk });
      return;
    }
    if (fire.at > 0) this.enqueue({ due: 0, data: chunk.subarray(0, fire.at) });
    this.conn.fire(this, fire.state.rule.action);
  }

  /** Finds the earliest rule that fires within `chunk`; otherwise arms the rules that matched. */
  private scan(chunk: Buffer): Candidate | undefined {
    const rules = this.conn.proxy.rulesFor(this.direction);
    if (rules.length === 0 && this.armed.size === 0) return undefined;
    const candidates: Array<Candidate & { fresh: boolean }> = [];
    for (const [state, left] of this.armed) candidates.push({ state, at: left, fresh: false });
    const hay = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    let longest = 0;
    for (const state of rules) {
      longest = Math.max(longest, state.pattern.length);
      if (this.armed.has(state) || (state.once && state.claimed)) continue;
      if (state.pattern.length === 0) {
        candidates.push({ state, at: state.offset, fresh: true });
        continue;
      }
      // A match that lies wholly inside the kept tail was already passed over (or predates the rule).
      const idx = hay.indexOf(state.pattern, Math.max(0, this.tail.length - state.pattern.length + 1));
      if (idx < 0) continue;
      candidates.push({ state, at: idx + state.pattern.length - this.tail.length + state.offset, fresh: true });
    }
    this.tail = longest > 1 ? Buffer.from(hay.subarray(Math.max(0, hay.length - (longest - 1)))) : Buffer.alloc(0);

    let first: Candidate | undefined;
    for (const c of candidates) if (c.at <= chunk.length && (first === undefined || c.at < first.at)) first = c;
    if (first !== undefined) {
      first.state.claimed = true;
      this.armed.delete(first.state);
      return first;
    }
    for (const c of candidates) {
      if (c.fresh) c.state.claimed = true;
      this.armed.set(c.state, c.at - chunk.length);
    }
    return undefined;
  }

  /** Puts data (or a marker) on the simulated wire; with no delay and no backlog it goes out at once. */
  enqueue(item: QueueItem): void {
    const { delayMs, bandwidthBytesPerSec, firstReplyDelayMs } = this.conn.proxy.link;
    const now = performance.now();
    let due = now + delayMs;
    if (this.direction === 'down' && item.data !== undefined && !this.answered) {
      this.answered = true;
      due += firstReplyDelayMs;
    }
    if (bandwidthBytesPerSec !== undefined && item.data !== undefined) {
      this.linkFreeAt = Math.max(now, this.linkFreeAt) + (item.data.length / bandwidthBytesPerSec) * 1000;
      due = this.linkFreeAt + delayMs;
    }
    item.due = Math.max(due, this.lastDue);
    this.lastDue = item.due;
    this.queue.push(item);
    this.queuedBytes += item.data?.length ?? 0;
    this.flush();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    while (!this.blocked && this.queue.length > 0 && this.queue[0]!.due <= now) {
      const item = this.queue.shift()!;
      if (item.data !== undefined) {
        this.queuedBytes -= item.data.length;
        if (this.dst.destroyed) continue;
        if (!this.dst.write(item.data)) {
          this.blocked = true;
          this.dst.once('drain', () => {
            this.blocked = false;
            this.flush();
          });
        }
      }
      item.run?.();
    }
    this.applyBackpressure();
    if (!this.blocked && this.queue.length > 0 && !this.conn.finished) {
      this.timer = setTimeout(() => this.flush(), Math.max(1, Math.ceil(this.queue[0]!.due - now)));
    }
  }

  private applyBackpressure(): void {
    if (this.conn.halted) return;
    const full = this.blocked || this.queuedBytes > QUEUE_HIGH_WATER;
    if (full && !this.pausedByUs) {
      this.pausedByUs = true;
      this.src.pause();
    } else if (!full && this.pausedByUs && this.queuedBytes <= QUEUE_HIGH_WATER / 2) {
      this.pausedByUs = false;
      this.src.resume();
    }
  }

  /** Forgets everything not yet delivered. */
  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}

class Connection {
  halted = false;
  finished = false;
  readonly up: Lane;
  readonly down: Lane;
  private readonly closed: Promise<void>;

  constructor(
    readonly proxy: FaultProxy,
    readonly client: Socket,
    readonly server: Socket,
  ) {
    this.up = new Lane('up', client, server, this);
    this.down = new Lane('down', server, client, this);
    const whenClosed = (s: Socket) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
    this.closed = Promise.all([whenClosed(client), whenClosed(server)]).then(() => undefined);
    const idleMs = proxy.idleCloseMs;
    let idle: NodeJS.Timeout | undefined;
    const active = () => {
      if (idleMs === undefined || this.finished) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (this.finished) return;
        this.halted = true;
        this.proxy.countIdleClosed();
        this.terminate(this.up, (s) => s.end());
        this.down.discard();
      }, idleMs);
    };
    active();
    void this.closed.then(() => clearTimeout(idle));
    for (const lane of [this.up, this.down]) {
      const { src, dst } = lane;
      src.setNoDelay(true);
      src.on('data', (chunk: Buffer) => {
        active();
        lane.onData(chunk);
      });
      // A FIN or an RST from one peer travels to the other behind the data sent before it.
      src.on('end', () => {
        if (!this.halted) lane.enqueue({ due: 0, run: () => dst.end() });
      });
      src.on('error', () => {
        if (!this.halted) lane.enqueue({ due: 0, run: () => resetWhenFlushed(dst) });
      });
    }
  }

  fire(lane: Lane, action: FaultAction): void {
    this.halted = true;
    this.proxy.countFired();
    const other = lane === this.up ? this.down : this.up;
    switch (action) {
      case 'stall':
        // What is already on the simulated wire still arrives; nothing new is taken in.
        this.client.pause();
        this.server.pause();
        break;
      case 'close':
        lane.enqueue({ due: 0, run: () => this.terminate(other, (s) => s.end()) });
        break;
      case 'reset':
        lane.enqueue({ due: 0, run: () => this.terminate(other, resetWhenFlushed) });
        break;
      case 'drop-and-close':
        lane.discard();
        this.terminate(other, (s) => s.end());
        break;
    }
  }

  private terminate(other: Lane, how: (s: Socket) => void): void {
    other.discard();
    this.finished = true;
    how(this.client);
    how(this.server);
  }

  async destroy(): Promise<void> {
    this.halted = true;
    this.finished = true;
    this.up.discard();
    this.down.discard();
    this.client.destroy();
    this.server.destroy();
    await this.closed;
  }

  whenClosed(): Promise<void> {
    return this.closed;
  }
}

/** An RST only after the bytes handed to the socket before it have left, so the peer reads them first. */
function resetWhenFlushed(s: Socket): void {
  if (s.destroyed) return;
  if (s.connecting) s.once('connect', () => resetWhenFlushed(s));
  else if (s.writableLength > 0) s.once('drain', () => resetWhenFlushed(s));
  else s.resetAndDestroy();
}

export class FaultProxy {
  readonly port: number;
  /** Total connections accepted. */
  connections = 0;
  /** Connections closed by idleCloseMs. */
  idleClosed = 0;
  private firedCount = 0;
  private readonly rules: RuleState[] = [];
  private readonly open = new Set<Connection>();
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly link: { delayMs: number; bandwidthBytesPerSec: number | undefined; firstReplyDelayMs: number },
    readonly idleCloseMs: number | undefined,
  ) {
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
  }

  static async start(o: FaultProxyOptions): Promise<FaultProxy> {
    if (o.delayMs !== undefined && !(o.delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${o.delayMs}`);
    if (o.bandwidthBytesPerSec !== undefined && !(o.bandwidthBytesPerSec > 0)) {
      throw new RangeError(`bandwidthBytesPerSec must be > 0, got ${o.bandwidthBytesPerSec}`);
    }
    if (o.firstReplyDelayMs !== undefined && !(o.firstReplyDelayMs >= 0))
      throw new RangeError(`firstReplyDelayMs must be >= 0, got ${o.firstReplyDelayMs}`);
    if (o.idleCloseMs !== undefined && !(o.idleCloseMs > 0)) throw new RangeError(`idleCloseMs must be > 0, got ${o.idleCloseMs}`);
    const targetHost = o.targetHost ?? '127.0.0.1';
    let proxy: FaultProxy | undefined;
    const server = createServer({ allowHalfOpen: true }, (client) => {
      if (proxy === undefined || proxy.stopping !== undefined) {
        client.destroy();
        return;
      }
      proxy.accept(client, targetHost, o.targetPort);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    proxy = new FaultProxy(
      server,
      { delayMs: o.delayMs ?? 0, bandwidthBytesPerSec: o.bandwidthBytesPerSec, firstReplyDelayMs: o.firstReplyDelayMs ?? 0 },
      o.idleCloseMs,
    );
    return proxy;
  }

  private accept(client: Socket, host: string, port: number): void {
    this.connections++;
    const upstream = connect({ host, port, allowHalfOpen: true });
    const conn = new Connection(this, client, upstream);
    this.open.add(conn);
    void conn.whenClosed().then(() => this.open.delete(conn));
  }

  /** Applies to connections open now and later. */
  addRule(rule: FaultRule): void {
    const offset = rule.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${rule.offset}`);
    const pattern = typeof rule.after === 'string' ? Buffer.from(rule.after, 'latin1') : Buffer.from(rule.after);
    this.rules.push({ rule, pattern, offset, once: rule.once ?? true, claimed: false });
  }

  /** How many rules have fired. */
  get fired(): number {
    return this.firedCount;
  }

  /** @internal */
  countIdleClosed(): void {
    this.idleClosed++;
  }

  /** @internal */
  countFired(): void {
    this.firedCount++;
  }

  /** @internal */
  rulesFor(direction: Direction): RuleState[] {
    return this.rules.filter((r) => r.rule.direction === direction);
  }

  /** Closes the listener and every connection; resolves once no socket of the proxy is left. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const listening = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await Promise.all([...this.open].map((c) => c.destroy()));
      await listening;
    })();
    return this.stopping;
  }
}
