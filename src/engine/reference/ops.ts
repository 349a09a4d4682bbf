// The building blocks of docs/MATH.md in plain TypeScript: the oracle that the WGSL kernels are tested against.
// Intermediate sums run in JavaScript doubles; results are stored as f32. Where a rounding decision depends on
// the exact f32 value (BitLinear's activation quantisation) the f32 arithmetic is emulated with Math.fround,
// so that the integer activations match the GPU's bit for bit.
import type { TernaryTensor } from '../types';

/** Round half to even (PyTorch `torch.round`, WGSL `round`). `Math.round` rounds halves up and must not be used. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  // Math.round maps an exact half to the integer above; step back when that integer is odd.
  if (r - x === 0.5 && (r & 1) !== 0) return r - 1;
  return r;
}

/** `x / sqrt(mean(x²) + eps) ⊙ g`. */
export function rmsNorm(x: Float32Array, gain: Float32Array, eps: number, out = new Float32Array(x.length)): Float32Array {
  let sumSquares = 0;
  for (let i = 0; i < x.length; i++) sumSquares += x[i] * x[i];
  const inv = 1 / Math.sqrt(sumSquares / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * inv * gain[i];
  return out;
}

/** `(x − mean) / sqrt(var + eps) ⊙ w + c` with the biased variance. `w`/`c` may be views into [H, f] tensors. */
export function layerNorm(x: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number, out = new Float32Array(x.length)): Float32Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (x[i] - mean) * (x[i] - mean);
  const inv = 1 / Math.sqrt(variance / n + eps);
  for (let i = 0; i < n; i++) out[i] = (x[i] - mean) * inv * weight[i] + bias[i];
  return out;
}

export interface QuantizedActivations {
  /** int8 activations `clamp(roundEven(x·s_x), −128, 127)`. */
  values: Int8Array;
  /** `s_x = 127 / max(max|x|, 1e-5)` as an f32. */
  scale: number;
}

/** Per-token absmax quantisation of BitLinear's input (MATH.md), in emulated f32. */
export function quantizeActivations(x: Float32Array, out = new Int8Array(x.length)): QuantizedActivations {
  let absMax = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (a > absMax) absMax = a;
  }
  const scale = Math.fround(127 / Math.max(absMax, Math.fround(1e-5)));
  return { values: quantizeWithScale(x, scale, out), scale };
}

/**
 * Near-tie bookkeeping (for parity tests; docs/ARCHITECTURE.md "Accuracy"). While a recorder is installed, every
 * activation quantisation notes how close f32(x·s_x) came to a .5 rounding boundary, in int8 units: another
 * implementation, summing in another order or precision, may round such a value to the neighbouring int8. (Its
 * rounding differences scale with the vector's absmax, which s_x maps to 127, not with each value: hence an
 * absolute distance.) Off by default (one null check per call).
 */
export interface NearTieRecorder {
  /** Smallest |v − (⌊v⌋ + ½)| over the quantised values v = f32(x·s_x) since the recorder was installed. */
  nearest: number;
}

let nearTieRecorder: NearTieRecorder | null = null;

/** Installs `recorder` (or removes it with null); returns the one it replaces. */
export function setNearTieRecorder(recorder: NearTieRecorder | null): NearTieRecorder | null {
  const previous = nearTieRecorder;
  nearTieRecorder = recorder;
  return previous;
}

/** `clamp(roundEven(f32(x·scale)), −128, 127)`: the int8 step of BitLinear for a given activation scale. */
export function quantizeWithScale(x: ArrayLike<number>, scale: number, out = new Int8Array(x.length)): Int8Array {
  const recorder = nearTieRecorder;
  for (let i = 0; i < x.length; i++) {
    const v = Math.fround(x[i] * scale);
    const q = roundEven(v);
    out[i] = q > 127 ? 127 : q < -128 ? -128 : q;
    if (recorder !== null) {
      const distance = Math.abs(v - (Math.floor(v) + 0.5));
      if (distance < recorder.nearest) recorder.nearest = distance;
    }
  }
  return out;
}

/**
 * A ternary weight as index lists: for row j, the input indices with +1 then those with −1. A row's dot
 * product with int8 activations is then additions and subtractions only, over the ~60% non-zero weights.
 */
export interface PreparedTernary {
  rows: number;
  cols: number;
  scale: number;
  /** Row j's +1 indices are indices[rowStart[j] .. minusStart[j]), its −1 indices [minusStart[j] .. rowStart[j+1]). */
  rowStart: Uint32Array;
  minusStart: Uint32Array;
  indices: Uint16Array | Uint32Array;
}

const prepared = new WeakMap<TernaryTensor, PreparedTernary>();

/** Converts (once per tensor, cached) a ternary `[out, in]` weight into index lists for bitLinear. */
export function prepareTernary(weight: TernaryTensor): PreparedTernary {
  const cached = prepared.get(weight);
  if (cached) return cached;
  if (weight.shape.length !== 2) throw new Error(`a BitLinear weight must be 2-D, got shape [${weight.shape.join(', ')}]`);
  const [rows, cols] = weight.shape;
  const w = weight.values;
  let nonZero = 0;
  for (let e = 0; e < w.length; e++) if (w[e] !== 0) nonZero++;
  const indices = cols <= 0x10000 ? new Uint16Array(nonZero) : new Uint32Array(nonZero);
  const rowStart = new Uint32Array(rows + 1);
  const minusStart = new Uint32Array(rows);
  let n = 0;
  for (let j = 0; j < rows; j++) {
    rowStart[j] = n;
    for (let i = 0; i < cols; i++) if (w[j * cols + i] === 1) indices[n++] = i;
    minusStart[j] = n;
    for (let i = 0; i < cols; i++) if (w[j * cols + i] === -1) indices[n++] = i;
  }
  rowStart[rows] = n;
  const result = { rows, cols, scale: weight.scale, rowStart, minusStart, indices };
  prepared.set(weight, result);
  return result;
}

/** `y[j] = (Σ_i xq[i]·Wq[j,i]) · (s_w / s_x)` for a ternary `[out, in]` weight. */
export function bitLinear(x: Float32Array, weight: TernaryTensor, out?: Float32Array): Float32Array {
  const [rows, cols] = weight.shape;
  if (weight.shape.length !== 2 || cols !== x.length) {
    throw new Error(`bitLinear: input of length ${x.length} does not fit a weight of shape [${weight.shape.join(', ')}]`);
  }
  const p = prepareTernary(weight);
  const y = out ?? new Float32Array(rows);
  const { values: xq, scale: activationScale } = quantizeActivations(x);
  const factor = Math.fround(weight.scale / activationScale);
  const { rowStart, minusStart, indices } = p;
  for (let j = 0; j < rows; j++) {
    let acc = 0; // an exact integer: |acc| ≤ 128·cols
    const mid = minusStart[j];
    const end = rowStart[j + 1];
    for (let n = rowStart[j]; n < mid; n++) acc += xq[indices[n]];
    for (let n = mid; n < end; n++) acc -= xq[indices[n]];
    y[j] = acc * factor;
  }
  return y;
}

export function silu(a: number): number {
  return a / (1 + Math.exp(-a));
}

/** The tanh form of GELU (MATH.md). */
export function gelu(a: number): number {
  return 0.5 * a * (1 + Math.tanh(0.7978845608 * (a + 0.044715 * a * a * a)));
}

/** Rotates each head's pairs `(x[2i], x[2i+1])` by `pos · theta^(−2i/f)`, in place. */
export function rope(x: Float32Array, nHeads: number, pos: number, theta: number): Float32Array {
  const f = x.length / nHeads;
  for (let i = 0; i < f / 2; i++) {
    const angle = pos * Math.pow(theta, (-2 * i) / f);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let h = 0; h < nHeads; h++) {
      const p = h * f + 2 * i;
      const x0 = x[p];
      const x1 = x[p + 1];
      x[p] = x0 * cos - x1 * sin;
      x[p + 1] = x0 * sin + x1 * cos;
    }
  }
  return x;
}

/** Numerically stable softmax of `x[0..n)` (n defaults to the whole array), in place. */
export function softmax(x: Float32Array | Float64Array, n = x.length): typeof x {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    x[i] = Math.exp(x[i] - max);
    sum += x[i];
  }
  for (let i = 0; i < n; i++) x[i] /= sum;
  return x;
}
