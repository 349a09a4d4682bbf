// Token sampling with the exact semantics of docs/SAMPLING.md; the GPU sampler reproduces these steps.
import type { SamplingParams } from '../types';
import type { CounterRng } from './rng';

export class SamplingParamsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SamplingParamsError';
  }
}

type SamplingKnobs = Pick<SamplingParams, 'temperature' | 'topK' | 'topP' | 'repetitionPenalty' | 'repetitionWindow'>;

/** Throws a SamplingParamsError naming the first parameter outside its range. */
export function checkSamplingParams(p: SamplingKnobs): void {
  if (!(Number.isFinite(p.temperature) && p.temperature >= 0)) throw new SamplingParamsError(`temperature must be ≥ 0, got ${p.temperature}`);
  if (!(Number.isInteger(p.topK) && p.topK >= 0)) throw new SamplingParamsError(`topK must be an integer ≥ 0, got ${p.topK}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new SamplingParamsError(`topP must be in (0, 1], got ${p.topP}`);
  if (!(Number.isFinite(p.repetitionPenalty) && p.repetitionPenalty > 0)) {
    throw new SamplingParamsError(`repetitionPenalty must be > 0, got ${p.repetitionPenalty}`);
  }
  if (!(Number.isInteger(p.repetitionWindow) && p.repetitionWindow >= 0)) {
    throw new SamplingParamsError(`repetitionWindow must be an integer ≥ 0, got ${p.repetitionWindow}`);
  }
}

/**
 * CTRL-style repetition penalty on a copy of the logits: each distinct id among the last `repetitionWindow`
 * tokens has its logit divided by the penalty when positive, multiplied by it otherwise.
 */
export function penalizedLogits(logits: Float32Array, recentTokens: readonly number[], penalty: number, window: number): Float32Array {
  const out = logits.slice();
  if (penalty === 1 || window === 0) return out;
  const seen = new Set(recentTokens.slice(-window));
  for (const id of seen) {
    if (!(Number.isInteger(id) && id >= 0 && id < out.length)) continue; // ids outside the vocabulary: nothing to penalise
    out[id] = out[id] > 0 ? out[id] / penalty : out[id] * penalty;
  }
  return out;
}

/** Index of the largest value; the lowest index on ties. */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The candidates that survive top-k and top-p, in descending probability, with their renormalised probabilities. */
export interface Candidates {
  ids: number[];
  probs: number[];
}

/** Steps 3–6 of SAMPLING.md for temperature > 0: temperature, top-k, softmax, top-p, renormalise. */
export function candidates(logits: Float32Array, params: Pick<SamplingParams, 'temperature' | 'topK' | 'topP'>): Candidates {
  const n = logits.length;
  // Descending logit, ascending id among equal logits (a total order, so CPU and GPU agree on ties).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const k = params.topK > 0 ? Math.min(params.topK, n) : n;
  const ids = order.slice(0, k);
  const maxScaled = logits[ids[0]] / params.temperature;
  const weights = ids.map((id) => Math.exp(logits[id] / params.temperature - maxScaled));
  const total = weights.reduce((a, b) => a + b, 0);
  // Smallest prefix whose probability mass reaches topP (at least one token).
  let kept = 0;
  let mass = 0;
  while (kept < ids.length) {
    mass += weights[kept] / total;
    kept++;
    if (mass >= params.topP) break;
  }
  const keptTotal = weights.slice(0, kept).reduce((a, b) => a + b, 0);
  return { ids: ids.slice(0, kept), probs: weights.slice(0, kept).map((w) => w / keptTotal) };
}

/** The first candidate whose cumulative probability exceeds `u` (the last one if rounding leaves u beyond all). */
export function drawFrom(c: Candidates, u: number): number {
  let cumulative = 0;
  for (let i = 0; i < c.ids.length; i++) {
    cumulative += c.probs[i];
    if (u < cumulative) return c.ids[i];
  }
  return c.ids[c.ids.length - 1];
}

/**
 * The next token. `recentTokens` is the stream so far (prompt and generated, oldest first); `rng` yields one
 * uniform per sampled token, also when temperature is 0 (so that switching temperature mid-stream keeps the
 * step counter aligned with the GPU's).
 */
export function sample(logits: Float32Array, params: SamplingKnobs, recentTokens: readonly number[], rng: CounterRng): number {
  checkSamplingParams(params);
  if (logits.length === 0) throw new SamplingParamsError('cannot sample from an empty logits vector');
  for (let i = 0; i < logits.length; i++) {
    if (Number.isNaN(logits[i])) throw new SamplingParamsError(`logit ${i} is NaN`);
  }
  const u = rng.next();
  const penalized = penalizedLogits(logits, recentTokens, params.repetitionPenalty, params.repetitionWindow);
  if (params.temperature === 0) return argmax(penalized);
  return drawFrom(candidates(penalized, params), u);
}
