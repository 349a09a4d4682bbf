import { describe, expect, it } from 'vitest';
import { candidates, CounterRng, drawFrom, pcgHash, penalizedLogits, sample, SamplingParamsError, uniform } from './index';

const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0 };

describe('counter-based RNG', () => {
  it('matches the reference vectors of SAMPLING.md (computed independently in Python)', () => {
    expect([pcgHash(0), pcgHash(1), pcgHash(0xffffffff)]).toEqual([129708002, 2831084092, 3861530882]);
    expect(uniform(1, 0)).toBe(0.3686981797218323);
    expect(uniform(1, 1)).toBe(0.6936357021331787);
    expect(uniform(42, 7)).toBe(0.5556069016456604);
    expect(uniform(0xdeadbeef, 123456)).toBe(0.11362874507904053);
  });

  it('is uniform enough and exact in f32', () => {
    const n = 20000;
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < n; i++) {
      const u = uniform(7, i);
      expect(Math.fround(u)).toBe(u);
      buckets[Math.floor(u * 10)]++;
    }
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(0.06 * (n / 10));
  });

  it('CounterRng walks the steps of one seed', () => {
    const rng = new CounterRng(9);
    expect([rng.next(), rng.next()]).toEqual([uniform(9, 0), uniform(9, 1)]);
    expect(rng.step).toBe(2);
  });
});

describe('sampling', () => {
  it('temperature 0 is argmax with the lowest id on ties, and still consumes one draw', () => {
    const rng = new CounterRng(1);
    expect(sample(Float32Array.from([0, 3, 1, 3]), greedy, [], rng)).toBe(1);
    expect(rng.step).toBe(1);
  });

  it('repetition penalty divides positive logits and multiplies the others, once per distinct id in the window', () => {
    const logits = Float32Array.from([2, -1, 4, 0.5, 3]);
    const out = penalizedLogits(logits, [9, 3, 0, 1, 1, 1, 4], 2, 4);
    // Window = last 4 ids = [1, 1, 1, 4]: ids 1 and 4 penalised once each; 0 and 3 are outside the window.
    expect(Array.from(out)).toEqual([2, -2, 4, 0.5, 1.5]);
    expect(Array.from(logits)).toEqual([2, -1, 4, 0.5, 3]); // the input is untouched
    // Greedy picks id 2 (4) over id 4 (3 → 1.5 when penalised).
    expect(sample(Float32Array.from([0, 0, 2.9, 0, 3]), { ...greedy, repetitionPenalty: 1.5, repetitionWindow: 8 }, [4], new CounterRng(1))).toBe(2);
  });

  it('top-k keeps the k largest logits (lowest id first among equals)', () => {
    const c = candidates(Float32Array.from([1, 5, 5, 2, 0]), { temperature: 1, topK: 2, topP: 1 });
    expect(c.ids).toEqual([1, 2]);
    expect(c.probs[0]).toBeCloseTo(0.5, 12);
  });

  it('top-p keeps the smallest prefix whose mass reaches topP, at least one token', () => {
    // Probabilities 0.5, 0.25, 0.125, 0.125 (logits are logs of them).
    const logits = Float32Array.from([Math.log(0.125), Math.log(0.5), Math.log(0.125), Math.log(0.25)]);
    const c = candidates(logits, { temperature: 1, topK: 0, topP: 0.7 });
    expect(c.ids).toEqual([1, 3]);
    expect(c.probs[0]).toBeCloseTo(2 / 3, 6);
    expect(candidates(logits, { temperature: 1, topK: 0, topP: 0.75 }).ids).toEqual([1, 3]);
    expect(candidates(logits, { temperature: 1, topK: 0, topP: 0.01 }).ids).toEqual([1]);
    expect(candidates(logits, { temperature: 1, topK: 0, topP: 1 }).ids).toEqual([1, 3, 0, 2]);
  });

  it('temperature sharpens or flattens the distribution', () => {
    const logits = Float32Array.from([1, 0]);
    const p = (t: number) => candidates(logits, { temperature: t, topK: 0, topP: 1 }).probs[0];
    expect(p(1)).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    expect(p(0.5)).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    expect(p(2)).toBeCloseTo(1 / (1 + Math.exp(-0.5)), 6);
  });

  it('draws the first candidate whose cumulative probability exceeds u', () => {
    const c = { ids: [7, 3, 5], probs: [0.5, 0.3, 0.2] };
    expect([0, 0.49, 0.5, 0.79, 0.8, 0.999999].map((u) => drawFrom(c, u))).toEqual([7, 7, 3, 3, 5, 5]);
  });

  it('sample frequencies follow the kept distribution and are reproducible from the seed', () => {
    const logits = Float32Array.from([Math.log(0.6), Math.log(0.3), Math.log(0.1)]);
    const params = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0 };
    const rng = new CounterRng(3);
    const counts = [0, 0, 0];
    const draws: number[] = [];
    for (let i = 0; i < 5000; i++) draws.push(sample(logits, params, [], rng));
    for (const d of draws) counts[d]++;
    expect(counts[0] / 5000).toBeCloseTo(0.6, 1);
    expect(counts[2] / 5000).toBeCloseTo(0.1, 1);
    const replay = new CounterRng(3);
    expect(draws.slice(0, 50)).toEqual(Array.from({ length: 50 }, () => sample(logits, params, [], replay)));
  });

  it('rejects parameters outside their ranges and NaN logits', () => {
    const base = { ...greedy };
    const bad = [
      { ...base, temperature: -1 },
      { ...base, topK: 1.5 },
      { ...base, topP: 0 },
      { ...base, topP: 1.2 },
      { ...base, repetitionPenalty: 0 },
      { ...base, repetitionWindow: -2 },
    ];
    for (const p of bad) expect(() => sample(Float32Array.from([1, 2]), p, [], new CounterRng(1))).toThrow(SamplingParamsError);
    expect(() => sample(Float32Array.from([1, NaN]), base, [], new CounterRng(1))).toThrow('logit 1 is NaN');
  });
});
