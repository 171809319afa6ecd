/**
 * Message buffers live outside V8's heap, and V8 frees them only when it
 * collects the small objects that point at them. It lets tens of MiB of such
 * dead memory pile up before it collects, which on a run bounded to a few
 * MiB in flight is most of the process's memory. So the engine says when it
 * has let go of message data, and after enough of it a collection is asked
 * for: the heap is small, so one costs a few milliseconds.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => unknown;

let gcFunction: GcFunction | null | undefined;

/** V8's gc(), made available without a command-line flag; null when this V8 refuses. */
export function collector(): GcFunction | null {
  if (gcFunction !== undefined) return gcFunction;
  try {
    const existing = (globalThis as { gc?: GcFunction }).gc;
    if (typeof existing === 'function') {
      gcFunction = existing;
    } else {
      setFlagsFromString('--expose-gc');
      // Only contexts created after the flag see gc().
      const fresh = runInNewContext('typeof gc === "function" ? gc : null') as GcFunction | null;
      gcFunction = fresh;
    }
  } catch {
    gcFunction = null;
  }
  return gcFunction;
}

export class Reclaimer {
  private readonly every: number;
  private readonly collect: () => GcFunction | null;
  private pending = 0;
  private running = false;

  /**
   * @param every bytes let go between two collections
   * @param collect how to collect (V8's gc() unless given)
   */
  constructor(every: number, collect: () => GcFunction | null = collector) {
    this.every = every;
    this.collect = collect;
  }

  /** Counts bytes no longer referenced; returns the collection it started, if any. */
  released(bytes: number): Promise<void> | undefined {
    this.pending += bytes;
    if (this.pending < this.every || this.running) return undefined;
    const gc = this.collect();
    if (gc === null) return undefined;
    this.pending = 0;
    this.running = true;
    // Async: the collection runs as its own task, after the code that let go of the buffers returns.
    // A collector that fails costs memory, never the run: its errors go nowhere.
    return new Promise<unknown>((resolve) => resolve(gc({ type: 'major', execution: 'async' })))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.running = false;
      });
  }
}
