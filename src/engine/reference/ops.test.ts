import { describe, expect, it } from 'vitest';
import type { TernaryTensor } from '../types';
import { Rng } from '../util/rng';
import { bitLinear, gelu, layerNorm, quantizeActivations, prepareTernary, quantizeWithScale, rmsNorm, rope, roundEven, setNearTieRecorder, silu, softmax } from './ops';

const ternary = (rows: number[][], scale: number): TernaryTensor => ({
  kind: 'ternary',
  shape: [rows.length, rows[0].length],
  scale,
  values: Int8Array.from(rows.flat()),
});

describe('roundEven', () => {
  it('rounds exact halves to the even neighbour, everything else to the nearest integer', () => {
    const cases: [number, number][] = [
      [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, -0], [-1.5, -2], [-2.5, -2], [-3.5, -4],
      [2.4999, 2], [2.5001, 3], [-2.5001, -3], [126.5, 126], [127.5, 128], [-127.5, -128], [7, 7],
    ];
    for (const [x, want] of cases) expect(roundEven(x), `roundEven(${x})`).toBe(want);
  });
});

describe('BitLinear quantisation', () => {
  it('quantises with s_x = 127 / max|x| and breaks ties to even', () => {
    // max|x| = 127 gives s_x = 1, so the halves below are exact ties.
    const { values, scale } = quantizeActivations(Float32Array.from([127, 2.5, -2.5, 3.5, 0.5, -0.5, -1.5, 0.49]));
    expect(scale).toBe(1);
    expect(Array.from(values)).toEqual([127, 2, -2, 4, 0, 0, -2, 0]);
  });

  it('scales a unit vector to ±127 and ties of the scaled values go to even', () => {
    // s_x = 127: −0.5·127 = −63.5 → −64 (Math.round would give −63), 0.25·127 = 31.75 → 32.
    const { values, scale } = quantizeActivations(Float32Array.from([1, -0.5, 0.25, -1]));
    expect(scale).toBe(127);
    expect(Array.from(values)).toEqual([127, -64, 32, -127]);
  });

  it('maps an all-zero input to zeros with the 1e-5 floor on the scale', () => {
    const { values, scale } = quantizeActivations(new Float32Array(8));
    expect(scale).toBe(Math.fround(127 / Math.fround(1e-5)));
    expect(Array.from(values)).toEqual(new Array(8).fill(0));
    const y = bitLinear(new Float32Array(4), ternary([[1, -1, 1, 0]], 0.3));
    expect(Array.from(y)).toEqual([0]);
  });

  it('clamps to [−128, 127]', () => {
    expect(Array.from(quantizeWithScale([-2, -1.0039, 2, 1.0039, -1.0079], 127))).toEqual([-128, -127, 127, 127, -128]);
  });

  it('computes y = (xq · Wqᵀ) · s_w / s_x', () => {
    const w = ternary([[1, 0, -1, 1], [-1, -1, 0, 1]], 0.5);
    // xq = [127, 2, −2, 4] with s_x = 1: row 0 = 127 + 2 + 4 = 133, row 1 = −127 − 2 + 4 = −125.
    const y = bitLinear(Float32Array.from([127, 2.5, -2.5, 3.5]), w);
    expect(Array.from(y)).toEqual([66.5, -62.5]);
    // s_x = 127/2: xq = [127, −64 (−63.5 tie), 0, 32 (31.75)]; rows 95 and −63; times 0.25 / 63.5.
    const y2 = bitLinear(Float32Array.from([2, -1, 0, 0.5]), ternary([[1, 1, 1, 1], [0, 1, 0, 0]], 0.25));
    const factor = Math.fround(0.25 / 63.5);
    expect(y2[0]).toBe(Math.fround(95 * factor));
    expect(y2[1]).toBe(Math.fround(-64 * factor));
  });

  it('the index-list kernel equals the dense definition on a random weight', () => {
    const rng = new Rng(12);
    const rows = 37;
    const cols = 53;
    const values = Int8Array.from({ length: rows * cols }, () => rng.int(3) - 1);
    const weight: TernaryTensor = { kind: 'ternary', shape: [rows, cols], scale: 0.037, values };
    const x = Float32Array.from({ length: cols }, () => rng.normal());
    const y = bitLinear(x, weight);
    const { values: xq, scale } = quantizeActivations(x);
    for (let j = 0; j < rows; j++) {
      let acc = 0;
      for (let i = 0; i < cols; i++) acc += xq[i] * values[j * cols + i];
      expect(y[j]).toBe(Math.fround(acc * Math.fround(0.037 / scale)));
    }
    expect(prepareTernary(weight)).toBe(prepareTernary(weight)); // converted once, then cached
  });

  it('rejects an input that does not fit the weight', () => {
    expect(() => bitLinear(new Float32Array(3), ternary([[1, 0, 0, 1]], 1))).toThrow(/length 3 does not fit a weight of shape \[1, 4\]/);
  });
});

describe('norms and activations', () => {
  it('rmsNorm and layerNorm match hand-computed values', () => {
    const x = Float32Array.from([1, 2, 3, 4]);
    const rms = rmsNorm(x, Float32Array.from([1, 1, 2, 1]), 0);
    const r = Math.sqrt(7.5);
    expect(Array.from(rms)).toEqual([1 / r, 2 / r, 6 / r, 4 / r].map(Math.fround));
    const ln = layerNorm(x, [1, 1, 1, 2], [0, 0, 0, 1], 0);
    const s = Math.sqrt(1.25);
    expect(Array.from(ln)).toEqual([-1.5 / s, -0.5 / s, 0.5 / s, 2 * (1.5 / s) + 1].map(Math.fround));
  });

  it('silu and the tanh-form gelu', () => {
    expect(silu(1)).toBeCloseTo(0.7310585786, 9);
    expect(silu(-2)).toBeCloseTo(-0.2384058440, 9);
    expect(gelu(1)).toBeCloseTo(0.8411919906, 9);
    expect(gelu(-1)).toBeCloseTo(-0.1588080094, 9);
    expect(gelu(0)).toBe(0);
  });

  it('rope is the identity at position 0, rotates pairs by pos·theta^(−2i/f)', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(rope(x.slice(), 2, 0, 10000))).toEqual(Array.from(x));
    const r = rope(x.slice(), 2, 3, 100);
    // Head 1, pair 1 (x[6], x[7]): angle 3·100^(−2/4) = 0.3.
    expect(r[6]).toBeCloseTo(7 * Math.cos(0.3) - 8 * Math.sin(0.3), 5);
    expect(r[7]).toBeCloseTo(7 * Math.sin(0.3) + 8 * Math.cos(0.3), 5);
    // Head 0, pair 0: angle 3.
    expect(r[0]).toBeCloseTo(Math.cos(3) - 2 * Math.sin(3), 5);
  });

  it('softmax sums to one and is shift invariant', () => {
    const a = softmax(Float64Array.from([1, 2, 3, 1000]), 3);
    expect(a[0] + a[1] + a[2]).toBeCloseTo(1, 12);
    expect(a[2] / a[1]).toBeCloseTo(Math.E, 10);
    expect(a[3]).toBe(1000); // past n: untouched
  });
});

describe('near-tie bookkeeping', () => {
  it('records the smallest distance of x·s_x to a .5 boundary in int8 units, only while a recorder is installed', () => {
    const recorder = { nearest: Infinity };
    expect(setNearTieRecorder(recorder)).toBeNull();
    try {
      quantizeWithScale([1, -3.5 + 2 ** -10, 0.25], 1);
      expect(recorder.nearest).toBe(2 ** -10);
      quantizeWithScale([100.5], 1); // an exact tie
      expect(recorder.nearest).toBe(0);
    } finally {
      expect(setNearTieRecorder(null)).toBe(recorder);
    }
    recorder.nearest = 1;
    quantizeWithScale([7.5], 1); // removed: no longer recorded
    expect(recorder.nearest).toBe(1);
  });
});
