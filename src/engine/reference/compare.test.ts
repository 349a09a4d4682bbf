import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBttt } from '../format/reader';
import { compareLogits, tieFlipProblems } from './compare';
import { NEAR_TIE_DISTANCE, ReferenceModel } from './model';

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

describe('tieFlipProblems: errors are excused only at or after a recorded near-tie', () => {
  const clean = (n: number) => Array.from({ length: n }, () => ({ relative: 1e-7, tieDistance: 1 }));
  const NEAR = 1e-4;

  it('passes tokens within the f32 tolerance, whatever their ties', () => {
    expect(tieFlipProblems(clean(10), NEAR)).toEqual([]);
  });

  it('excuses a jump at a near-tie token and the small error that stays after it', () => {
    const tokens = clean(10);
    tokens[4].tieDistance = 3e-5;
    for (let i = 4; i < 10; i++) tokens[i].relative = 3e-3;
    expect(tieFlipProblems(tokens, NEAR)).toEqual([]);
  });

  it('fails a perturbed token with no near-tie at or before it, even a small perturbation', () => {
    const tokens = clean(10);
    tokens[6].tieDistance = 5e-5; // a tie after the error does not excuse it
    tokens[3].relative = 5e-5;
    expect(tieFlipProblems(tokens, NEAR)).toEqual([expect.stringMatching(/^token 3: error 5\.00e-5 .* no near-tie/)]);
  });

  it('does not count a distance above the threshold as a tie', () => {
    const tokens = clean(5);
    tokens[1].tieDistance = 2e-4;
    tokens[2].relative = 1e-3;
    expect(tieFlipProblems(tokens, NEAR)).toHaveLength(1);
  });

  it('bounds the error after a tie', () => {
    const tokens = clean(5);
    tokens[1].tieDistance = 1e-5;
    tokens[3].relative = 5e-2;
    expect(tieFlipProblems(tokens, NEAR)).toEqual([expect.stringMatching(/^token 3: .* even after the near-tie at token 1/)]);
  });

  it('on real reference logits: a logit perturbed by 1e-4 of the range fails before the first recorded tie, passes after it', () => {
    const model = parseBttt(new Uint8Array(readFileSync('public/models/tiny-ttt.bttt')));
    const ref = new ReferenceModel(model, { recordNearTies: true });
    const logits = Array.from({ length: 40 }, (_, i) => ref.step((i * 37 + 5) % model.config.vocabSize));
    expect(ref.nearestTies).toHaveLength(40);
    const firstTie = ref.nearTiePositions()[0] ?? 40;
    expect(firstTie, 'the sequence has tokens before its first near-tie').toBeGreaterThan(1);
    const perturbedAt = (t: number) =>
      logits.map((expected, i) => {
        const actual = expected.slice();
        if (i === t) actual[7] += 1e-4 * compareLogits(expected, expected).range;
        return { relative: compareLogits(actual, expected).relative, tieDistance: ref.nearestTies[i] };
      });
    expect(tieFlipProblems(perturbedAt(-1), NEAR_TIE_DISTANCE)).toEqual([]);
    expect(tieFlipProblems(perturbedAt(firstTie - 1), NEAR_TIE_DISTANCE)).toEqual([expect.stringMatching(new RegExp(`^token ${firstTie - 1}: .* no near-tie`))]);
    if (firstTie < 40) expect(tieFlipProblems(perturbedAt(firstTie), NEAR_TIE_DISTANCE)).toEqual([]);
  });
});
