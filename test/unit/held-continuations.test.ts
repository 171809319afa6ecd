import { describe, expect, it } from 'vitest';
import { HELD_CONTINUATION_MS, HeldContinuations } from '../../src/imap/held-continuations.js';

describe('HeldContinuations', () => {
  it('switches to answering in step at the third held "+" when most were held', () => {
    const held = new HeldContinuations();
    expect(held.note(40)).toBe(false);
    expect(held.note(41)).toBe(false);
    expect(held.inStep).toBe(false);
    expect(held.note(45)).toBe(true);
    expect(held.inStep).toBe(true);
    expect(held.counts).toEqual({ behind: 3, held: 3 });
    // Once: later held replies do not switch again.
    expect(held.note(50)).toBe(false);
  });

  it('does not switch while "+" replies come at once, or when held ones are not more than half', () => {
    const quick = new HeldContinuations();
    for (let i = 0; i < 20; i++) expect(quick.note(0.2)).toBe(false);
    const mixed = new HeldContinuations();
    for (const ms of [0.1, 40, 0.1, 40, 0.1, 40]) expect(mixed.note(ms)).toBe(false);
    expect(mixed.counts).toEqual({ behind: 6, held: 3 });
    expect(mixed.inStep).toBe(false);
  });

  it('counts a "+" whose reply is not known as not held, and takes the bound itself as held', () => {
    const held = new HeldContinuations();
    held.note(undefined);
    held.note(HELD_CONTINUATION_MS - 0.01);
    held.note(HELD_CONTINUATION_MS);
    expect(held.counts).toEqual({ behind: 3, held: 1 });
  });
});
