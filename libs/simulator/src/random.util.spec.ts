import { describe, expect, it } from 'vitest';
import { createRandom } from './random.util.js';

const draw = (seed: number | string, n = 32): number[] => {
  const random = createRandom(seed);
  return Array.from({ length: n }, () => random.next());
};

describe('createRandom', () => {
  it('repeats the same sequence for the same seed', () => {
    expect(draw('clinic-7')).toEqual(draw('clinic-7'));
  });

  it('diverges for different seeds, even nearby ones', () => {
    expect(draw('clinic-7')).not.toEqual(draw('clinic-8'));
    expect(draw(1)).not.toEqual(draw(2));
  });

  it('treats a number and its decimal string as the same seed', () => {
    expect(draw(42)).toEqual(draw('42'));
  });

  it('stays in range and spreads over it', () => {
    const random = createRandom('range');
    const values = Array.from({ length: 5000 }, () => random.next());
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    const ints = new Set(Array.from({ length: 2000 }, () => random.int(10)));
    expect([...ints].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('follows weights and never picks a zero weight', () => {
    const random = createRandom('weights');
    const counts = { rare: 0, common: 0, never: 0 };
    for (let i = 0; i < 4000; i++) counts[random.weighted({ rare: 1, common: 3, never: 0 })]++;
    expect(counts.never).toBe(0);
    expect(counts.common / counts.rare).toBeGreaterThan(2.4);
    expect(counts.common / counts.rare).toBeLessThan(3.6);
  });

  it('refuses impossible requests', () => {
    const random = createRandom('x');
    expect(() => random.pick([])).toThrow(RangeError);
    expect(() => random.int(0)).toThrow(RangeError);
    expect(() => random.weighted({ a: 0 })).toThrow(RangeError);
  });
});
