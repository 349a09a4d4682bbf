// How far one logits vector is from another: the measure every parity test (CPU vs PyTorch golden vectors,
// GPU vs CPU, in Chromium and under Node) reports, so that their tolerances mean the same thing.

export interface LogitsComparison {
  /** max_j |actual[j] − expected[j]| */
  maxAbs: number;
  /** max − min of the expected logits: the scale the difference is judged against. */
  range: number;
  /** maxAbs / range */
  relative: number;
  /** Both vectors pick the same greedy token (lowest id on ties). */
  argmaxEqual: boolean;
}

export function compareLogits(actual: ArrayLike<number>, expected: ArrayLike<number>): LogitsComparison {
  if (actual.length !== expected.length) throw new RangeError(`logits lengths differ: ${actual.length} vs ${expected.length}`);
  let maxAbs = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let actualArgmax = 0;
  let expectedArgmax = 0;
  for (let j = 0; j < expected.length; j++) {
    maxAbs = Math.max(maxAbs, Math.abs(actual[j] - expected[j]));
    lo = Math.min(lo, expected[j]);
    hi = Math.max(hi, expected[j]);
    if (actual[j] > actual[actualArgmax]) actualArgmax = j;
    if (expected[j] > expected[expectedArgmax]) expectedArgmax = j;
  }
  const range = hi - lo;
  return { maxAbs, range, relative: maxAbs / range, argmaxEqual: actualArgmax === expectedArgmax };
}
