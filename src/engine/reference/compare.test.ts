import { describe, expect, it } from 'vitest';
import { compareLogits } from './compare';

describe('compareLogits', () => {
  it('measures the largest difference against the expected range and compares greedy picks', () => {
    const r = compareLogits([1, 2.5, -1], [1, 3, -1]);
    expect(r.maxAbs).toBeCloseTo(0.5, 12);
    expect(r.range).toBe(4);
    expect(r.relative).toBeCloseTo(0.125, 12);
    expect(r.argmaxEqual).toBe(true);
  });

  it('breaks ties by the lowest id, so an exact tie never counts as a different pick', () => {
    expect(compareLogits([2, 2, 0], [2, 2, 0]).argmaxEqual).toBe(true);
    expect(compareLogits([1, 2, 0], [2, 1, 0]).argmaxEqual).toBe(false);
  });

  it('refuses vectors of different lengths', () => {
    expect(() => compareLogits([1, 2], [1, 2, 3])).toThrow(RangeError);
  });
});
