import { describe, expect, it } from 'vitest';
import { collector, Reclaimer, type GcFunction } from '../../src/engine/reclaim.js';

const MIB = 1024 * 1024;

describe('Reclaimer', () => {
  it('asks for one major collection per threshold of bytes let go', async () => {
    const calls: unknown[] = [];
    const gc: GcFunction = (options) => {
      calls.push(options);
      return Promise.resolve();
    };
    const r = new Reclaimer(8 * MIB, () => gc);
    expect(r.released(3 * MIB)).toBeUndefined();
    expect(r.released(3 * MIB)).toBeUndefined();
    await r.released(3 * MIB);
    expect(calls).toEqual([{ type: 'major', execution: 'async' }]);
    // The count starts again after a collection.
    expect(r.released(7 * MIB)).toBeUndefined();
    await r.released(1 * MIB);
    expect(calls).toHaveLength(2);
  });

  it('does not stack collections while one is running', async () => {
    let finish!: () => void;
    let calls = 0;
    const gc: GcFunction = () => {
      calls++;
      return new Promise<void>((resolve) => (finish = resolve));
    };
    const r = new Reclaimer(MIB, () => gc);
    const first = r.released(2 * MIB);
    expect(first).toBeDefined();
    expect(r.released(5 * MIB)).toBeUndefined();
    finish();
    await first;
    // What was let go meanwhile still counts.
    expect(r.released(0)).toBeDefined();
    expect(calls).toBe(2);
  });

  it('never lets a failing collector fail the caller', async () => {
    const r = new Reclaimer(MIB, () => () => {
      throw new Error('no');
    });
    await expect(r.released(2 * MIB)).resolves.toBeUndefined();
    const rejecting = new Reclaimer(MIB, () => () => Promise.reject(new Error('no')));
    await expect(rejecting.released(2 * MIB)).resolves.toBeUndefined();
  });

  it('does nothing when no collector is available', () => {
    const r = new Reclaimer(MIB, () => null);
    expect(r.released(10 * MIB)).toBeUndefined();
  });

  it("collects dead message buffers with this Node's own collector", async () => {
    expect(collector()).not.toBeNull();
    const r = new Reclaimer(32 * MIB);
    // What is freed is told by weak references, which a major collection clears in its pause:
    // the process's memory figures may follow only later, as the machine's load allows.
    const { refs, release } = allocate(16);
    release();
    await r.released(64 * MIB);
    expect(refs.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });
});

/** Buffers held only by the returned closure, so no frame of the test keeps one alive. */
function allocate(count: number): { refs: WeakRef<Buffer>[]; release: () => void } {
  const held: Buffer[] = [];
  for (let i = 0; i < count; i++) held.push(Buffer.alloc(MIB, i));
  return { refs: held.map((b) => new WeakRef(b)), release: () => (held.length = 0) };
}
