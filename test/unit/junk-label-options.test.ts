import { describe, expect, it } from 'vitest';
import { labelsOf, parseJunk } from '../../src/cli/options.js';
import { PopliftError } from '../../src/errors.js';

describe('--junk', () => {
  it('takes auto, off (any case) or a folder split on /', () => {
    expect(parseJunk('auto')).toBe('auto');
    expect(parseJunk('OFF')).toBe('off');
    expect(parseJunk('Old ISP/Spam')).toEqual(['Old ISP', 'Spam']);
    expect(parseJunk('/Junk/')).toEqual(['Junk']);
  });

  it('a value that names no folder is a usage error (exit 2)', () => {
    expect(() => parseJunk('/')).toThrow(PopliftError);
    expect(() => parseJunk('//')).toThrow(/names no folder: give auto, off, or a folder/);
  });
});

describe('--label', () => {
  it('takes one label, several, or none; the same label once', () => {
    expect(labelsOf({})).toEqual([]);
    expect(labelsOf({ label: 'Old ISP' })).toEqual(['Old ISP']);
    expect(labelsOf({ label: ['Old ISP', 'Étiquette', 'Old ISP', '\\Important'] })).toEqual(['Old ISP', 'Étiquette', '\\Important']);
  });

  it.each(['', ' lead', 'trail ', 'two  spaces', 'car^et', 'line\nbreak'])('refuses %j as Gmail does, with exit 2', (bad) => {
    let err: unknown;
    try {
      labelsOf({ label: bad });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PopliftError);
    expect((err as PopliftError).exitCode).toBe(2);
    expect((err as PopliftError).message).toMatch(/which Gmail refuses in a label name/);
  });
});
