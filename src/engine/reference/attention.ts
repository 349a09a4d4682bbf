// The attention mixers of docs/MATH.md with an f32 KV cache: "attn" grows up to maxContext and then refuses,
// "swa" keeps a ring of the last `window` positions (memory constant in the context length). With config.attn, the
// TTT mixer's causal conv on q/k/v (and its histories) and its output gate.
import type { ModelConfig, ModelFile, TernaryTensor } from '../types';
import { attnConfig } from '../model/spec';
import { bitLinear, gelu, rmsNorm, rope, softmax } from './ops';
import { floatTensor, ternaryTensor } from './tensors';
import { convolveToken, pushHistory } from './ttt';

export class ContextOverflowError extends Error {
  constructor(
    readonly tokens: number,
    readonly maxContext: number,
  ) {
    super(`prompt too long for the KV baseline: ${tokens} tokens > maxContext ${maxContext}`);
    this.name = 'ContextOverflowError';
  }
}

export interface AttentionWeights {
  wq: TernaryTensor;
  wk: TernaryTensor;
  wv: TernaryTensor;
  wo: TernaryTensor;
  subnorm: Float32Array;
  wg: TernaryTensor | null;
  /** [d, K] each, or null without a conv (attn.convKernel 0). */
  convQ: Float32Array | null;
  convK: Float32Array | null;
  convV: Float32Array | null;
}

export function attentionWeights(model: ModelFile, layer: number): AttentionWeights {
  const d = model.config.dModel;
  const { convKernel: K, gate } = attnConfig(model.config);
  const p = `l${layer}.attn.`;
  return {
    wq: ternaryTensor(model, p + 'wq', d, d),
    wk: ternaryTensor(model, p + 'wk', d, d),
    wv: ternaryTensor(model, p + 'wv', d, d),
    wo: ternaryTensor(model, p + 'wo', d, d),
    subnorm: floatTensor(model, p + 'subnorm', d),
    wg: gate ? ternaryTensor(model, p + 'wg', d, d) : null,
    convQ: K > 0 ? floatTensor(model, p + 'conv_q', d, K) : null,
    convK: K > 0 ? floatTensor(model, p + 'conv_k', d, K) : null,
    convV: K > 0 ? floatTensor(model, p + 'conv_v', d, K) : null,
  };
}

/** What a test may observe of the last step: the rotated query, key and the value (all [d], after the conv). */
export interface AttentionProbe {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

export class AttentionLayer {
  private keys: Float32Array;
  private values: Float32Array;
  /** Slots the cache holds: maxContext for "attn" (grown on demand), window for "swa". */
  private readonly capacity: number;
  private readonly d: number;
  private readonly nHeads: number;
  private readonly scores: Float64Array;
  private readonly convKernel: number;
  /** The last K−1 pre-conv q, k, v inputs, oldest row first, [(K−1), d] each (empty without a conv). */
  readonly convHistory: { q: Float32Array; k: Float32Array; v: Float32Array };
  lastProbe: AttentionProbe | null = null;

  constructor(
    readonly kind: 'attn' | 'swa',
    readonly weights: AttentionWeights,
    readonly config: ModelConfig,
  ) {
    this.d = config.dModel;
    this.nHeads = config.nHeads;
    this.capacity = kind === 'swa' ? config.window : config.maxContext;
    // "attn" starts small and doubles, so that a short chat does not allocate maxContext up front.
    const initialSlots = kind === 'swa' ? this.capacity : Math.min(this.capacity, 64);
    this.keys = new Float32Array(initialSlots * this.d);
    this.values = new Float32Array(initialSlots * this.d);
    this.scores = new Float64Array(this.capacity);
    this.convKernel = attnConfig(config).convKernel;
    const history = Math.max(this.convKernel - 1, 0) * this.d;
    this.convHistory = { q: new Float32Array(history), k: new Float32Array(history), v: new Float32Array(history) };
  }

  reset(): void {
    this.keys.fill(0);
    this.values.fill(0);
    for (const h of Object.values(this.convHistory)) h.fill(0);
    this.lastProbe = null;
  }

  /** Bytes of the KV cache holding `tokens` positions (f32 keys and values). */
  cacheBytes(tokens: number): number {
    return 2 * Math.min(tokens, this.capacity) * this.d * 4;
  }

  /** Bytes of the conv histories, 3·(K−1)·d f32, constant in the context length (0 without a conv). */
  convHistoryBytes(): number {
    return 4 * (this.convHistory.q.length + this.convHistory.k.length + this.convHistory.v.length);
  }

  /** The causal conv of MATH.md on one of q/k/v (identity without a conv); shifts that history by one token. */
  private convolve(u: Float32Array, kernel: Float32Array | null, history: Float32Array): Float32Array {
    if (!kernel) return u;
    const out = new Float32Array(u.length);
    convolveToken(kernel, history, u, this.convKernel, out);
    pushHistory(history, u);
    return out;
  }

  /** The mixer output for the normalised input `xn` of the token at position `pos`. */
  step(xn: Float32Array, pos: number): Float32Array {
    const { d, nHeads: H } = this;
    const f = d / H;
    if (this.kind === 'attn' && pos >= this.capacity) throw new ContextOverflowError(pos + 1, this.capacity);
    const w = this.weights;
    const history = this.convHistory;
    const q = rope(this.convolve(bitLinear(xn, w.wq), w.convQ, history.q), H, pos, this.config.ropeTheta);
    const k = rope(this.convolve(bitLinear(xn, w.wk), w.convK, history.k), H, pos, this.config.ropeTheta);
    const v = this.convolve(bitLinear(xn, w.wv), w.convV, history.v);
    this.lastProbe = { q, k, v };

    const slot = this.kind === 'swa' ? pos % this.capacity : pos;
    if ((slot + 1) * d > this.keys.length) this.grow(slot + 1);
    this.keys.set(k, slot * d);
    this.values.set(v, slot * d);

    // Cached positions: (pos − window, pos] for swa, [0, pos] for attn. Order does not matter to softmax.
    const count = Math.min(pos + 1, this.capacity);
    const firstPos = pos + 1 - count;
    const scale = 1 / Math.sqrt(f);
    const o = new Float32Array(d);
    const scores = this.scores;
    for (let h = 0; h < H; h++) {
      const ho = h * f;
      for (let n = 0; n < count; n++) {
        const p = firstPos + n;
        const base = (this.kind === 'swa' ? p % this.capacity : p) * d + ho;
        let dot = 0;
        for (let c = 0; c < f; c++) dot += q[ho + c] * this.keys[base + c];
        scores[n] = dot * scale;
      }
      softmax(scores, count);
      for (let n = 0; n < count; n++) {
        const p = firstPos + n;
        const base = (this.kind === 'swa' ? p % this.capacity : p) * d + ho;
        const weight = scores[n];
        for (let c = 0; c < f; c++) o[ho + c] += weight * this.values[base + c];
      }
    }
    const normed = rmsNorm(o, w.subnorm, this.config.normEps);
    if (w.wg) {
      const g = bitLinear(xn, w.wg);
      for (let c = 0; c < d; c++) normed[c] *= gelu(g[c]);
    }
    return bitLinear(normed, w.wo);
  }

  private grow(slots: number): void {
    const newSlots = Math.min(this.capacity, Math.max(slots, (2 * this.keys.length) / this.d));
    const keys = new Float32Array(newSlots * this.d);
    const values = new Float32Array(newSlots * this.d);
    keys.set(this.keys);
    values.set(this.values);
    this.keys = keys;
    this.values = values;
  }
}
