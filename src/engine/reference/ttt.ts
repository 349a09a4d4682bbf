// The TTT-Linear mixer of docs/MATH.md: the primal form, token by token with explicit state (what decoding and
// the WGSL run), and an independent dual form over a whole sequence, a mini-batch at a time (what training
// runs). Tests prove the two agree.
import type { HeadDrift, ModelConfig, ModelFile, TernaryTensor } from '../types';
import { bitLinear, gelu, layerNorm } from './ops';
import { floatTensor, ternaryTensor } from './tensors';

/** The weights of one TTT layer, shapes as in MATH.md's tensor table. */
export interface TttWeights {
  wq: TernaryTensor; // the same tensor as wk when shareQK
  wk: TernaryTensor;
  wv: TernaryTensor;
  wo: TernaryTensor;
  wg: TernaryTensor | null;
  convQ: Float32Array | null; // [d, K]
  convK: Float32Array | null;
  lrW: Float32Array; // [H, d]
  lrB: Float32Array; // [H]
  tokOffset: Float32Array; // [b]
  lnW: Float32Array; // [H, f]
  lnB: Float32Array; // [H, f]
  wInit: Float32Array; // [H, f, f]
  bInit: Float32Array; // [H, f]
  postNormW: Float32Array; // [d]
  postNormB: Float32Array; // [d]
}

/** The numbers of the config that a TTT layer needs. */
export interface TttDims {
  dModel: number;
  nHeads: number;
  headSize: number;
  miniBatch: number;
  convKernel: number;
  baseLr: number;
  gate: boolean;
  eps: number;
}

export function tttDims(config: ModelConfig): TttDims {
  return {
    dModel: config.dModel,
    nHeads: config.nHeads,
    headSize: config.dModel / config.nHeads,
    miniBatch: config.ttt.miniBatch,
    convKernel: config.ttt.convKernel,
    baseLr: config.ttt.baseLr,
    gate: config.ttt.gate,
    eps: config.normEps,
  };
}

export function tttWeights(model: ModelFile, layer: number): TttWeights {
  const c = model.config;
  const d = c.dModel;
  const H = c.nHeads;
  const f = d / H;
  const K = c.ttt.convKernel;
  const p = `l${layer}.ttt.`;
  const wq = c.ttt.shareQK ? ternaryTensor(model, p + 'wqk', d, d) : ternaryTensor(model, p + 'wq', d, d);
  const wk = c.ttt.shareQK ? wq : ternaryTensor(model, p + 'wk', d, d);
  return {
    wq,
    wk,
    wv: ternaryTensor(model, p + 'wv', d, d),
    wo: ternaryTensor(model, p + 'wo', d, d),
    wg: c.ttt.gate ? ternaryTensor(model, p + 'wg', d, d) : null,
    convQ: K > 0 ? floatTensor(model, p + 'conv_q', d, K) : null,
    convK: K > 0 ? floatTensor(model, p + 'conv_k', d, K) : null,
    lrW: floatTensor(model, p + 'lr_w', H, d),
    lrB: floatTensor(model, p + 'lr_b', H),
    tokOffset: floatTensor(model, p + 'tok_offset', c.ttt.miniBatch),
    lnW: floatTensor(model, p + 'ln_w', H, f),
    lnB: floatTensor(model, p + 'ln_b', H, f),
    wInit: floatTensor(model, p + 'w_init', H, f, f),
    bInit: floatTensor(model, p + 'b_init', H, f),
    postNormW: floatTensor(model, p + 'post_norm_w', d),
    postNormB: floatTensor(model, p + 'post_norm_b', d),
  };
}

/** `tok_i = max(1/(i+1) + tok_offset[i], 0)` for the i-th token of a mini-batch. */
export function tokenWeight(w: TttWeights, i: number): number {
  return Math.max(1 / (i + 1) + w.tokOffset[i], 0);
}

/** `lr[h] = baseLr · sigmoid(lr_w[h] · xn + lr_b[h]) / f` for every head. */
export function innerLearningRates(w: TttWeights, dims: TttDims, xn: Float32Array): Float64Array {
  const { dModel: d, nHeads: H, headSize: f, baseLr } = dims;
  const lr = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    let a = w.lrB[h];
    for (let c = 0; c < d; c++) a += w.lrW[h * d + c] * xn[c];
    lr[h] = (baseLr / (1 + Math.exp(-a))) / f;
  }
  return lr;
}

/**
 * The inner loss gradient with respect to Z (the LayerNorm backward of MATH.md), written into `grad`.
 * Returns the inner loss `mean_c (LN(Z) − target)²` at this Z.
 */
function innerGradient(
  Z: Float64Array,
  target: Float64Array,
  lnW: Float32Array,
  lnB: Float32Array,
  lnOffset: number,
  eps: number,
  grad: Float64Array,
  xhat: Float64Array,
  gy: Float64Array,
): number {
  const f = Z.length;
  let mean = 0;
  for (let c = 0; c < f; c++) mean += Z[c];
  mean /= f;
  let variance = 0;
  for (let c = 0; c < f; c++) variance += (Z[c] - mean) * (Z[c] - mean);
  const sigma = Math.sqrt(variance / f + eps);
  let sumGy = 0;
  let sumGyXhat = 0;
  let loss = 0;
  for (let c = 0; c < f; c++) {
    xhat[c] = (Z[c] - mean) / sigma;
    const gamma = lnW[lnOffset + c];
    const residual = gamma * xhat[c] + lnB[lnOffset + c] - target[c];
    loss += residual * residual;
    gy[c] = gamma * residual;
    sumGy += gy[c];
    sumGyXhat += gy[c] * xhat[c];
  }
  for (let c = 0; c < f; c++) grad[c] = (f * gy[c] - sumGy - xhat[c] * sumGyXhat) / (f * sigma);
  return loss / f;
}

/** `mean_c (LN(Z; ln_w, ln_b) − target)²`. */
function innerLoss(Z: Float64Array, target: Float64Array, lnW: Float32Array, lnB: Float32Array, lnOffset: number, eps: number): number {
  const f = Z.length;
  const normed = layerNorm(Z, lnW.subarray(lnOffset, lnOffset + f), lnB.subarray(lnOffset, lnOffset + f), eps, new Float32Array(f));
  let loss = 0;
  for (let c = 0; c < f; c++) loss += (normed[c] - target[c]) ** 2;
  return loss / f;
}

/** The causal depthwise convolution for one token: `out[c] = Σ_j kernel[c,j] · u_{t−(K−1)+j}[c]`. */
export function convolveToken(kernel: Float32Array, history: Float32Array, current: Float32Array, K: number, out: Float32Array): void {
  const d = current.length;
  for (let c = 0; c < d; c++) {
    let acc = kernel[c * K + K - 1] * current[c];
    for (let j = 0; j < K - 1; j++) acc += kernel[c * K + j] * history[j * d + c];
    out[c] = acc;
  }
}

/** Shifts a `(K−1)·d` history (oldest row first) by one token and appends `current`. */
export function pushHistory(history: Float32Array, current: Float32Array): void {
  const d = current.length;
  history.copyWithin(0, d);
  history.set(current, history.length - d);
}

export interface TttLayerState {
  /** State at the start of the current mini-batch, [H, f, f] and [H, f]. */
  W0: Float32Array;
  b0: Float32Array;
  /** Gradient accumulators of the current mini-batch (zero at its start). */
  GW: Float32Array;
  Gb: Float32Array;
  /** The state the last token used: `W̄ = W0 − tok·GW`, `b̄ = b0 − tok·Gb` (after a reset: w_init, b_init). */
  Wbar: Float32Array;
  bbar: Float32Array;
  /** The last K−1 pre-convolution q and k inputs, oldest first, [(K−1), d]. */
  convHistoryQ: Float32Array;
  convHistoryK: Float32Array;
}

/** One TTT layer in the primal form: call `step` once per token, positions counted from the last reset. */
export class TttLayer {
  readonly state: TttLayerState;
  /** Drift per head after the last step (zeros after a reset). */
  readonly drift: HeadDrift[];
  private readonly f: number;
  // Scratch buffers, reused every token.
  private readonly Z: Float64Array;
  private readonly target: Float64Array;
  private readonly grad: Float64Array;
  private readonly xhat: Float64Array;
  private readonly gy: Float64Array;
  private readonly q: Float32Array;
  private readonly k: Float32Array;
  private readonly z: Float32Array;
  private readonly wInitNorms: Float64Array;

  /** The concatenated head outputs `z` of the last step, before the post-norm (for tests). */
  get innerOutput(): Float32Array {
    return this.z;
  }

  constructor(
    readonly weights: TttWeights,
    readonly dims: TttDims,
  ) {
    const { dModel: d, nHeads: H, headSize: f, convKernel: K } = dims;
    this.f = f;
    const history = Math.max(K - 1, 0) * d;
    this.state = {
      W0: new Float32Array(H * f * f),
      b0: new Float32Array(H * f),
      GW: new Float32Array(H * f * f),
      Gb: new Float32Array(H * f),
      Wbar: new Float32Array(H * f * f),
      bbar: new Float32Array(H * f),
      convHistoryQ: new Float32Array(history),
      convHistoryK: new Float32Array(history),
    };
    this.drift = Array.from({ length: H }, () => ({ norm: 0, cos: 1, lossBefore: 0, lossAfter: 0, w0Norm: 0 }));
    this.Z = new Float64Array(f);
    this.target = new Float64Array(f);
    this.grad = new Float64Array(f);
    this.xhat = new Float64Array(f);
    this.gy = new Float64Array(f);
    this.q = new Float32Array(d);
    this.k = new Float32Array(d);
    this.z = new Float32Array(d);
    this.wInitNorms = new Float64Array(H);
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let e = h * f * f; e < (h + 1) * f * f; e++) s += weights.wInit[e] * weights.wInit[e];
      this.wInitNorms[h] = Math.sqrt(s);
    }
    this.reset();
  }

  reset(): void {
    const s = this.state;
    s.W0.set(this.weights.wInit);
    s.b0.set(this.weights.bInit);
    s.Wbar.set(this.weights.wInit);
    s.bbar.set(this.weights.bInit);
    s.GW.fill(0);
    s.Gb.fill(0);
    s.convHistoryQ.fill(0);
    s.convHistoryK.fill(0);
    for (const h of this.drift) Object.assign(h, { norm: 0, cos: 1, lossBefore: 0, lossAfter: 0, w0Norm: 0 });
  }

  /** The mixer output for the normalised input `xn` of the token at position `pos`. */
  step(xn: Float32Array, pos: number): Float32Array {
    const w = this.weights;
    const { nHeads: H, convKernel: K, miniBatch: b, eps } = this.dims;
    const f = this.f;
    const s = this.state;

    const uq = bitLinear(xn, w.wq);
    const uk = w.wk === w.wq ? uq : bitLinear(xn, w.wk);
    const v = bitLinear(xn, w.wv);
    const q = this.q;
    const k = this.k;
    if (K > 0) {
      convolveToken(w.convQ!, s.convHistoryQ, uq, K, q);
      convolveToken(w.convK!, s.convHistoryK, uk, K, k);
      pushHistory(s.convHistoryQ, uq);
      pushHistory(s.convHistoryK, uk);
    } else {
      q.set(uq);
      k.set(uk);
    }
    const lr = innerLearningRates(w, this.dims, xn);
    const i = pos % b;
    const tok = tokenWeight(w, i);
    const lastOfMiniBatch = i === b - 1;
    const { Z, target, grad, xhat, gy, z } = this;

    for (let h = 0; h < H; h++) {
      const vo = h * f; // offset of head h in [d] and [H, f] arrays
      const mo = h * f * f; // offset of head h in [H, f, f] arrays
      if (i === 0) {
        // A new mini-batch: accumulators start from zero (they are also cleared at the commit below).
        s.GW.fill(0, mo, mo + f * f);
        s.Gb.fill(0, vo, vo + f);
      }
      // Z = k W0 + b0 and the gradient of the inner loss there.
      for (let c = 0; c < f; c++) Z[c] = s.b0[vo + c];
      for (let r = 0; r < f; r++) {
        const kr = k[vo + r];
        const row = mo + r * f;
        for (let c = 0; c < f; c++) Z[c] += kr * s.W0[row + c];
      }
      for (let c = 0; c < f; c++) target[c] = v[vo + c] - k[vo + c];
      const lossBefore = innerGradient(Z, target, w.lnW, w.lnB, vo, eps, grad, xhat, gy);

      // GW += lr·kᵀG, Gb += lr·G;  W̄ = W0 − tok·GW, b̄ = b0 − tok·Gb.
      const rate = lr[h];
      for (let r = 0; r < f; r++) {
        const scaledK = rate * k[vo + r];
        const row = mo + r * f;
        for (let c = 0; c < f; c++) {
          s.GW[row + c] += scaledK * grad[c];
          s.Wbar[row + c] = s.W0[row + c] - tok * s.GW[row + c];
        }
      }
      for (let c = 0; c < f; c++) {
        s.Gb[vo + c] += rate * grad[c];
        s.bbar[vo + c] = s.b0[vo + c] - tok * s.Gb[vo + c];
      }

      // z = q + LN(q W̄ + b̄), and the loss after the step (the same prediction for k).
      const Zq = new Float64Array(f);
      for (let c = 0; c < f; c++) {
        Zq[c] = s.bbar[vo + c];
        Z[c] = s.bbar[vo + c];
      }
      for (let r = 0; r < f; r++) {
        const qr = q[vo + r];
        const kr = k[vo + r];
        const row = mo + r * f;
        for (let c = 0; c < f; c++) {
          Zq[c] += qr * s.Wbar[row + c];
          Z[c] += kr * s.Wbar[row + c];
        }
      }
      const lnWh = w.lnW.subarray(vo, vo + f);
      const lnBh = w.lnB.subarray(vo, vo + f);
      const zh = layerNorm(Zq, lnWh, lnBh, eps, new Float32Array(f));
      for (let c = 0; c < f; c++) z[vo + c] = q[vo + c] + zh[c];

      // Drift: ‖W̄ − w_init‖_F, the cosine between W̄ and w_init, and ‖W0 − w_init‖_F (W0 not yet committed).
      let diff = 0;
      let dot = 0;
      let barNorm = 0;
      let w0Diff = 0;
      for (let e = mo; e < mo + f * f; e++) {
        const a = s.Wbar[e];
        const init = w.wInit[e];
        diff += (a - init) * (a - init);
        dot += a * init;
        barNorm += a * a;
        w0Diff += (s.W0[e] - init) * (s.W0[e] - init);
      }
      const drift = this.drift[h];
      drift.norm = Math.sqrt(diff);
      drift.cos = dot / (Math.sqrt(barNorm) * this.wInitNorms[h] || 1);
      drift.lossBefore = lossBefore;
      drift.lossAfter = innerLoss(Z, target, w.lnW, w.lnB, vo, eps);
      drift.w0Norm = Math.sqrt(w0Diff);

      if (lastOfMiniBatch) {
        s.W0.set(s.Wbar.subarray(mo, mo + f * f), mo);
        s.b0.set(s.bbar.subarray(vo, vo + f), vo);
        s.GW.fill(0, mo, mo + f * f);
        s.Gb.fill(0, vo, vo + f);
      }
    }
    return tttOutput(w, this.dims, xn, z);
  }
}

/** `zc = LN(concat z; post_norm)`, times `gelu(BitLinear(xn; wg))` with a gate, then `BitLinear(zc; wo)`. */
function tttOutput(w: TttWeights, dims: TttDims, xn: Float32Array, z: Float32Array): Float32Array {
  const zc = layerNorm(z, w.postNormW, w.postNormB, dims.eps);
  if (w.wg) {
    const g = bitLinear(xn, w.wg);
    for (let c = 0; c < zc.length; c++) zc[c] *= gelu(g[c]);
  }
  return bitLinear(zc, w.wo);
}

export interface DualResult {
  /** Mixer output per token. */
  outputs: Float32Array[];
  /** The concatenated head outputs `z` per token, before the post-norm. */
  innerOutputs: Float32Array[];
  /** State at the start of the mini-batch after the last complete one, [H, f, f] and [H, f]. */
  W0: Float32Array;
  b0: Float32Array;
}

/**
 * The same layer over a whole sequence starting at position 0 (fresh state), in the dual form of DESIGN.md §1:
 * per head and mini-batch, `Z̄ = XQ W0 − (η ⊙ tril(XQ XKᵀ)) G + b̄` with `η[i,j] = tok_i · lr_j` and
 * `b̄_i = b0 − Σ_{j≤i} η[i,j] G_j`, where every `G_j` is the gradient at the mini-batch's start state.
 * Written independently of `TttLayer` (whole-sequence projections and convolution, matrix form) so that
 * agreement between the two is evidence.
 */
export function tttDualSequence(w: TttWeights, dims: TttDims, inputs: Float32Array[]): DualResult {
  const { dModel: d, nHeads: H, headSize: f, miniBatch: b, convKernel: K, eps } = dims;
  const T = inputs.length;

  // Whole-sequence projections, then the causal convolution as PyTorch's Conv1d(padding=K−1)[:T].
  const UQ = inputs.map((x) => bitLinear(x, w.wq));
  const UK = inputs.map((x) => bitLinear(x, w.wk));
  const XV = inputs.map((x) => bitLinear(x, w.wv));
  const convolve = (U: Float32Array[], kernel: Float32Array | null): Float32Array[] => {
    if (!kernel) return U;
    return U.map((_, t) => {
      const out = new Float32Array(d);
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j < K; j++) {
          const src = t - (K - 1) + j;
          if (src >= 0) acc += kernel[c * K + j] * U[src][c];
        }
        out[c] = acc;
      }
      return out;
    });
  };
  const XQ = convolve(UQ, w.convQ);
  const XK = convolve(UK, w.convK);
  const LR = inputs.map((x) => innerLearningRates(w, dims, x));
  const Zout = inputs.map(() => new Float32Array(d));

  const W0 = new Float64Array(w.wInit);
  const b0 = new Float64Array(w.bInit);
  const grads = Array.from({ length: b }, () => new Float64Array(f));
  const scratch = { xhat: new Float64Array(f), gy: new Float64Array(f), target: new Float64Array(f), Z: new Float64Array(f) };

  for (let h = 0; h < H; h++) {
    const vo = h * f;
    const mo = h * f * f;
    const lnWh = w.lnW.subarray(vo, vo + f);
    const lnBh = w.lnB.subarray(vo, vo + f);
    for (let start = 0; start < T; start += b) {
      const n = Math.min(b, T - start);
      // G_j at (W0, b0) for every token of the mini-batch.
      for (let j = 0; j < n; j++) {
        const t = start + j;
        for (let c = 0; c < f; c++) {
          let acc = b0[vo + c];
          for (let r = 0; r < f; r++) acc += XK[t][vo + r] * W0[mo + r * f + c];
          scratch.Z[c] = acc;
          scratch.target[c] = XV[t][vo + c] - XK[t][vo + c];
        }
        innerGradient(scratch.Z, scratch.target, w.lnW, w.lnB, vo, eps, grads[j], scratch.xhat, scratch.gy);
      }
      // Z̄_i = XQ_i W0 + b0 − Σ_{j≤i} η[i,j] (XQ_i·XK_j + 1) G_j.
      for (let i = 0; i < n; i++) {
        const t = start + i;
        const tok = tokenWeight(w, i);
        const Zbar = new Float64Array(f);
        for (let c = 0; c < f; c++) {
          let acc = b0[vo + c];
          for (let r = 0; r < f; r++) acc += XQ[t][vo + r] * W0[mo + r * f + c];
          Zbar[c] = acc;
        }
        for (let j = 0; j <= i; j++) {
          let qk = 0;
          for (let r = 0; r < f; r++) qk += XQ[t][vo + r] * XK[start + j][vo + r];
          const eta = tok * LR[start + j][h];
          const coefficient = eta * (qk + 1);
          for (let c = 0; c < f; c++) Zbar[c] -= coefficient * grads[j][c];
        }
        const normed = layerNorm(Zbar, lnWh, lnBh, eps, new Float32Array(f));
        for (let c = 0; c < f; c++) Zout[t][vo + c] = XQ[t][vo + c] + normed[c];
      }
      // A complete mini-batch moves the start state: W0 −= tok_{b−1} Σ_j lr_j XK_jᵀ G_j.
      if (n === b) {
        const tokLast = tokenWeight(w, b - 1);
        for (let j = 0; j < b; j++) {
          const t = start + j;
          const eta = tokLast * LR[t][h];
          for (let r = 0; r < f; r++) {
            const scaledK = eta * XK[t][vo + r];
            for (let c = 0; c < f; c++) W0[mo + r * f + c] -= scaledK * grads[j][c];
          }
          for (let c = 0; c < f; c++) b0[vo + c] -= eta * grads[j][c];
        }
      }
    }
  }
  return {
    outputs: inputs.map((x, t) => tttOutput(w, dims, x, Zout[t])),
    innerOutputs: Zout,
    W0: new Float32Array(W0),
    b0: new Float32Array(b0),
  };
}
