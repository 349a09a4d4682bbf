// The whole model of docs/MATH.md on the CPU, one token at a time with state: the oracle for the WebGPU engine
// and the runtime of the Node CLIs (generate, eval).
import type { LayerDrift, ModelConfig, ModelFile, TernaryTensor } from '../types';
import { configProblem } from '../model/spec';
import { AttentionLayer, attentionWeights, ContextOverflowError } from './attention';
import { bitLinear, prepareTernary, rmsNorm, silu } from './ops';
import { floatTensor, ReferenceModelError, ternaryTensor } from './tensors';
import { TttLayer, tttDims, tttWeights, type TttLayerState } from './ttt';

interface FfnWeights {
  w1: TernaryTensor;
  w3: TernaryTensor;
  w2: TernaryTensor;
  subnorm: Float32Array;
}

interface Block {
  mixerNorm: Float32Array;
  mixer: TttLayer | AttentionLayer;
  ffnNorm: Float32Array;
  ffn: FfnWeights;
}

export class ReferenceModel {
  readonly config: ModelConfig;
  private readonly embedding: Float32Array; // [V, d]
  private readonly head: Float32Array; // [V, d]
  private readonly finalNorm: Float32Array;
  private readonly blocks: Block[];
  private pos = 0;

  constructor(model: ModelFile) {
    const c = model.config;
    const problem = configProblem(c);
    if (problem) throw new ReferenceModelError(`invalid model config: ${problem}`);
    this.config = c;
    const d = c.dModel;
    const F = c.ffnHidden;
    this.embedding = floatTensor(model, 'tok_embed', c.vocabSize, d);
    this.head = c.tieEmbeddings ? this.embedding : floatTensor(model, 'lm_head', c.vocabSize, d);
    this.finalNorm = floatTensor(model, 'final_norm', d);
    // Ternary weights become index lists once, here, rather than on the first token.
    for (const t of model.tensors.values()) if (t.kind === 'ternary' && t.shape.length === 2) prepareTernary(t);
    const dims = tttDims(c);
    this.blocks = c.mixers.map((kind, i) => ({
      mixerNorm: floatTensor(model, `l${i}.mixer_norm`, d),
      mixer: kind === 'ttt' ? new TttLayer(tttWeights(model, i), dims) : new AttentionLayer(kind, attentionWeights(model, i), c),
      ffnNorm: floatTensor(model, `l${i}.ffn_norm`, d),
      ffn: {
        w1: ternaryTensor(model, `l${i}.ffn.w1`, F, d),
        w3: ternaryTensor(model, `l${i}.ffn.w3`, F, d),
        w2: ternaryTensor(model, `l${i}.ffn.w2`, d, F),
        subnorm: floatTensor(model, `l${i}.ffn.subnorm`, F),
      },
    }));
  }

  /** Tokens read since the last reset; the position of the next token. */
  get position(): number {
    return this.pos;
  }

  /** Forget everything read: TTT state back to w_init/b_init, conv histories and KV caches emptied, position 0. */
  reset(): void {
    for (const block of this.blocks) block.mixer.reset();
    this.pos = 0;
  }

  /** Reads one token and returns the logits for the next one ([V], f32). */
  step(token: number): Float32Array {
    const c = this.config;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) {
      throw new ReferenceModelError(`token id ${token} is outside the vocabulary [0, ${c.vocabSize})`);
    }
    // Refuse before any layer changes its state, so that a refused token leaves the model as it was.
    if (this.pos >= c.maxContext && c.mixers.includes('attn')) throw new ContextOverflowError(this.pos + 1, c.maxContext);
    const d = c.dModel;
    const eps = c.normEps;
    const x = this.embedding.slice(token * d, (token + 1) * d);
    for (const block of this.blocks) {
      const mixed = block.mixer.step(rmsNorm(x, block.mixerNorm, eps), this.pos);
      for (let i = 0; i < d; i++) x[i] += mixed[i];
      const hn = rmsNorm(x, block.ffnNorm, eps);
      const a = bitLinear(hn, block.ffn.w1);
      const gate = bitLinear(hn, block.ffn.w3);
      for (let i = 0; i < a.length; i++) a[i] = silu(a[i]) * gate[i];
      const down = bitLinear(rmsNorm(a, block.ffn.subnorm, eps), block.ffn.w2);
      for (let i = 0; i < d; i++) x[i] += down[i];
    }
    this.pos++;
    return this.logits(rmsNorm(x, this.finalNorm, eps));
  }

  /** Drift of every TTT layer after the last step (norm 0, cos 1, losses 0 before the first token). */
  drift(): LayerDrift[] {
    const out: LayerDrift[] = [];
    this.blocks.forEach((block, layer) => {
      if (block.mixer instanceof TttLayer) out.push({ layer, heads: block.mixer.drift.map((h) => ({ ...h })) });
    });
    return out;
  }

  /** A copy of a TTT layer's state (for tests and golden vectors). */
  tttState(layer: number): TttLayerState {
    const mixer = this.blocks[layer]?.mixer;
    if (!(mixer instanceof TttLayer)) throw new ReferenceModelError(`layer ${layer} is not a TTT layer`);
    const s = mixer.state;
    return {
      W0: s.W0.slice(),
      b0: s.b0.slice(),
      GW: s.GW.slice(),
      Gb: s.Gb.slice(),
      Wbar: s.Wbar.slice(),
      bbar: s.bbar.slice(),
      convHistoryQ: s.convHistoryQ.slice(),
      convHistoryK: s.convHistoryK.slice(),
    };
  }

  /** Bytes of decode state at the current position: TTT state (f32) plus KV caches and attention conv histories (f32). */
  stateBytes(): { tttState: number; kvCache: number } {
    let tttState = 0;
    let kvCache = 0;
    for (const block of this.blocks) {
      if (block.mixer instanceof TttLayer) {
        const s = block.mixer.state;
        tttState += 4 * (s.W0.length + s.b0.length + s.GW.length + s.Gb.length + s.convHistoryQ.length + s.convHistoryK.length);
      } else kvCache += block.mixer.cacheBytes(this.pos) + block.mixer.convHistoryBytes();
    }
    return { tttState, kvCache };
  }

  private logits(hidden: Float32Array): Float32Array {
    const { vocabSize: V, dModel: d } = this.config;
    const out = new Float32Array(V);
    const head = this.head;
    for (let v = 0; v < V; v++) {
      let acc = 0;
      const base = v * d;
      for (let i = 0; i < d; i++) acc += head[base + i] * hidden[i];
      out[v] = acc;
    }
    return out;
  }
}
