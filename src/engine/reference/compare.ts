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

// The one rule for logit parity across implementations (GPU vs reference in model.spec.ts, GPU vs PyTorch in
// golden.spec.ts): every token must agree to f32 rounding, except tokens at or after one where the CPU reference
// recorded an int8 rounding near-tie (ReferenceModel `recordNearTies`): there the other implementation may have
// quantised an activation to the neighbouring int8, and the flipped value stays in the KV cache or the TTT state,
// so later tokens keep a small error.

/**
 * Drift statistics (norm, cos, lossBefore, lossAfter, w0Norm per TTT head) of another implementation against the
 * reference: |Δ| ≤ DRIFT_RELATIVE_TOLERANCE × max(|reference|, 1e-3), one bound for every test (GPU vs CPU in
 * model.spec.ts and worker.spec.ts, the text reader vs a GPU oracle in feed.spec.ts). Why this value: the GPU sums
 * the f×f state in f32 in its own order, the reference in f64, so the stats differ by f32 rounding (observed
 * ≤ 6e-7 relative on SwiftShader and on an H200); 1e-5 keeps a 15× margin while an error in any one state element
 * of its own size moves the norm by ≥ 1/f ≫ 1e-5 (f ≤ 256).
 */
export const DRIFT_RELATIVE_TOLERANCE = 1e-5;

/** max |Δlogit| / logit range that every token without an excuse must meet (observed ≤ 1.4e-6 on SwiftShader). */
export const LOGIT_RELATIVE_TOLERANCE = 1e-5;
/** Even after a tie flip the error stays small: one int8 step of one activation (observed ≤ 5e-3). */
export const AFTER_TIE_MAX = 2e-2;

export interface TokenParity {
  /** max |Δlogit| / logit range at this token. */
  relative: number;
  /** The reference's nearest int8 rounding tie at this token (ReferenceModel.nearestTies). */
  tieDistance: number;
}

/** Why `tokens` fail the rule (empty: they pass). `nearTie`: the distance that counts as a near-tie (NEAR_TIE_DISTANCE). */
export function tieFlipProblems(tokens: readonly TokenParity[], nearTie: number): string[] {
  const problems: string[] = [];
  let firstTie = -1;
  tokens.forEach((t, i) => {
    if (firstTie < 0 && t.tieDistance <= nearTie) firstTie = i;
    if (t.relative <= LOGIT_RELATIVE_TOLERANCE) return;
    if (firstTie < 0) {
      problems.push(`token ${i}: error ${t.relative.toExponential(2)} of the logit range > ${LOGIT_RELATIVE_TOLERANCE} with no near-tie recorded at or before it`);
    } else if (t.relative > AFTER_TIE_MAX) {
      problems.push(`token ${i}: error ${t.relative.toExponential(2)} of the logit range > ${AFTER_TIE_MAX} even after the near-tie at token ${firstTie}`);
    }
  });
  return problems;
}

/** One line for logs: the relative errors, with the near-tie tokens marked by '*'. */
export function describeParity(tokens: readonly TokenParity[], nearTie: number): string {
  return tokens.map((t) => `${t.relative.toExponential(1)}${t.tieDistance <= nearTie ? `*(${t.tieDistance.toExponential(0)})` : ''}`).join(' ');
}
