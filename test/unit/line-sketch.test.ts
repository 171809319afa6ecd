import { describe, expect, it } from 'vitest';
import { lineSketch, similarity, SKETCH_SIZE } from '../../src/message/line-sketch.js';

const message = (body: string) => Buffer.from(`From: a@example.org\r\nSubject: same\r\n\r\n${body}`, 'latin1');
const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => `line ${from + i}\r\n`).join('');

describe('line sketches', () => {
  it('are equal for the same lines in another order and with other line ends', () => {
    const a = message('one\r\ntwo\r\nthree\r\n');
    const b = Buffer.from('three\ntwo\nFrom: a@example.org\r\r\nSubject: same\n\none\n', 'latin1');
    expect(similarity(lineSketch(a), lineSketch(b))).toBe(1);
  });

  it('score a copy with one line rewritten nearer its message than a message with other lines', () => {
    const mine = message(`Body of message 1.\r\n${lines(0, 20)}`);
    const theirs = message(`Body of message 2.\r\n${lines(100, 20)}`);
    const copy = message(`Body  of message 1.\r\n${lines(0, 20)}`);
    expect(similarity(lineSketch(mine), lineSketch(copy))).toBeGreaterThan(similarity(lineSketch(theirs), lineSketch(copy)));
  });

  it('tell two short messages apart by the one line they do not share', () => {
    const one = message('Body of message 1.\r\n');
    const two = message('Body of message 2.\r\n');
    const copyOfTwo = Buffer.from(two.toString('latin1').replace('Subject: same', 'Subject:  same'), 'latin1');
    expect(similarity(lineSketch(two), lineSketch(copyOfTwo))).toBeGreaterThan(similarity(lineSketch(one), lineSketch(copyOfTwo)));
  });

  it('hold at most SKETCH_SIZE hashes however long the message, and estimate the share of lines in common', () => {
    const a = lineSketch(Buffer.from(lines(0, 20_000), 'latin1'));
    const b = lineSketch(Buffer.from(lines(10_000, 20_000), 'latin1'));
    expect(a.length).toBe(SKETCH_SIZE);
    // 10,000 of 30,000 distinct lines are in both: a share of 1/3, estimated from 128 samples.
    expect(similarity(a, b)).toBeGreaterThan(0.2);
    expect(similarity(a, b)).toBeLessThan(0.47);
    expect(similarity(a, lineSketch(Buffer.from(lines(50_000, 20_000), 'latin1')))).toBe(0);
  });
});
