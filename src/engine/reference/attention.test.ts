import { describe, expect, it } from 'vitest';
import { randomModel } from '../model/random';
import { Rng } from '../util/rng';
import { AttentionLayer, attentionWeights, ContextOverflowError } from './attention';
import { ReferenceModel } from './model';
import { bitLinear, gelu, rmsNorm } from './ops';
import { EMPTY_TOKENIZER, smallConfig } from './testModels';

describe('attention mixers', () => {
  for (const attn of [undefined, { convKernel: 3, gate: true }]) {
    it(`swa with a ring of \`window\` entries equals full attention masked to the window (attn ${JSON.stringify(attn)})`, () => {
      const config = smallConfig(['swa'], {}, { window: 5, attn });
      const weights = attentionWeights(randomModel(config, EMPTY_TOKENIZER, 2), 0);
      const layer = new AttentionLayer('swa', weights, config);
      const rng = new Rng(8);
      const d = config.dModel;
      const H = config.nHeads;
      const f = d / H;
      const keys: Float32Array[] = [];
      const values: Float32Array[] = [];
      let maxDiff = 0;
      for (let pos = 0; pos < 23; pos++) {
        const xn = Float32Array.from({ length: d }, () => rng.normal());
        const out = layer.step(xn, pos);
        const { q, k, v } = layer.lastProbe!;
        keys.push(k);
        values.push(v);
        // Full causal attention over every position so far, with positions outside (pos − window, pos] masked.
        const o = new Float32Array(d);
        for (let h = 0; h < H; h++) {
          const scores = keys.map((key, j) => {
            if (j <= pos - config.window) return -Infinity;
            let dot = 0;
            for (let c = 0; c < f; c++) dot += q[h * f + c] * key[h * f + c];
            return dot / Math.sqrt(f);
          });
          const max = Math.max(...scores);
          const e = scores.map((s) => Math.exp(s - max));
          const sum = e.reduce((a, b) => a + b, 0);
          values.forEach((value, j) => {
            for (let c = 0; c < f; c++) o[h * f + c] += (e[j] / sum) * value[h * f + c];
          });
        }
        const normed = rmsNorm(o, weights.subnorm, config.normEps);
        if (weights.wg) {
          const g = bitLinear(xn, weights.wg);
          normed.forEach((value, i) => (normed[i] = value * gelu(g[i])));
        }
        const expected = bitLinear(normed, weights.wo);
        expected.forEach((value, i) => (maxDiff = Math.max(maxDiff, Math.abs(value - out[i]))));
      }
      expect(maxDiff).toBeLessThan(1e-5);
      expect(layer.cacheBytes(23)).toBe(2 * 5 * d * 4); // the ring never grows
    });
  }

  it('the q/k/v conv is MATH.md\'s causal depthwise conv over the pre-conv inputs, zeros before position 0', () => {
    const K = 4;
    const config = smallConfig(['attn'], {}, { attn: { convKernel: K, gate: false } });
    const weights = attentionWeights(randomModel(config, EMPTY_TOKENIZER, 3), 0);
    const layer = new AttentionLayer('attn', weights, config);
    const rng = new Rng(5);
    const d = config.dModel;
    const inputs: Float32Array[] = [];
    let maxDiff = 0;
    for (let pos = 0; pos < 9; pos++) {
      const xn = Float32Array.from({ length: d }, () => rng.normal());
      inputs.push(bitLinear(xn, weights.wv));
      layer.step(xn, pos);
      // v is not rotated, so the probe shows the conv output directly.
      for (let c = 0; c < d; c++) {
        let want = 0;
        for (let j = 0; j < K; j++) {
          const t = pos - (K - 1) + j;
          if (t >= 0) want += weights.convV![c * K + j] * inputs[t][c];
        }
        maxDiff = Math.max(maxDiff, Math.abs(want - layer.lastProbe!.v[c]));
      }
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(layer.convHistoryBytes()).toBe(3 * (K - 1) * d * 4);
  });

  it('an identity conv (last tap 1) and no gate give exactly plain attention; reset clears the histories', () => {
    const plainConfig = smallConfig(['attn', 'swa']);
    const convConfig = smallConfig(['attn', 'swa'], {}, { attn: { convKernel: 3, gate: false } });
    const convFile = randomModel(convConfig, EMPTY_TOKENIZER, 8);
    const plainFile = randomModel(plainConfig, EMPTY_TOKENIZER, 8);
    for (const [name, t] of convFile.tensors) {
      if (!name.includes('.conv_')) plainFile.tensors.set(name, t);
      else if (t.kind === 'float') t.data.forEach((_, i) => (t.data[i] = i % 3 === 2 ? 1 : 0));
    }
    const plain = new ReferenceModel(plainFile);
    const conv = new ReferenceModel(convFile);
    const tokens = [5, 9, 1, 33, 7, 2, 60, 4];
    for (const t of tokens) expect(Array.from(conv.step(t))).toEqual(Array.from(plain.step(t)));
    // The decode state counts the histories: 3·(K−1)·d f32 per attention layer.
    expect(conv.stateBytes().kvCache - plain.stateBytes().kvCache).toBe(2 * 3 * 2 * convConfig.dModel * 4);

    // With real kernels, a reset must clear the histories: the same tokens give the same logits again.
    const real = new ReferenceModel(randomModel(convConfig, EMPTY_TOKENIZER, 9));
    const first = tokens.map((t) => Array.from(real.step(t)));
    real.reset();
    expect(tokens.map((t) => Array.from(real.step(t)))).toEqual(first);
  });

  it('swa differs from unmasked attention once the window is exceeded', () => {
    const config = smallConfig(['swa'], {}, { window: 3 });
    const weights = attentionWeights(randomModel(config, EMPTY_TOKENIZER, 2), 0);
    const swa = new AttentionLayer('swa', weights, config);
    const full = new AttentionLayer('attn', weights, config);
    const rng = new Rng(1);
    const diffs: number[] = [];
    for (let pos = 0; pos < 6; pos++) {
      const xn = Float32Array.from({ length: config.dModel }, () => rng.normal());
      const a = swa.step(xn, pos);
      const b = full.step(xn, pos);
      diffs.push(Math.max(...a.map((v, i) => Math.abs(v - b[i]))));
    }
    expect(diffs.slice(0, 3)).toEqual([0, 0, 0]);
    expect(Math.min(...diffs.slice(3))).toBeGreaterThan(0);
  });

  it('attn past maxContext throws the clear error, and the KV model works up to it', () => {
    const config = smallConfig(['attn', 'attn'], {}, { maxContext: 4 });
    const model = new ReferenceModel(randomModel(config, EMPTY_TOKENIZER, 6));
    for (let t = 0; t < 4; t++) expect(model.step(t + 1).every(Number.isFinite)).toBe(true);
    expect(() => model.step(1)).toThrow(ContextOverflowError);
    expect(() => model.step(1)).toThrow('prompt too long for the KV baseline: 5 tokens > maxContext 4');
    expect(model.position).toBe(4);
    model.reset();
    expect(() => model.step(1)).not.toThrow();
  });

  it('a refused token leaves a mixed ttt + attn model unchanged', () => {
    const config = smallConfig(['ttt', 'attn'], {}, { maxContext: 3 });
    const model = new ReferenceModel(randomModel(config, EMPTY_TOKENIZER, 6));
    [1, 2, 3].forEach((t) => model.step(t));
    const before = model.tttState(0);
    expect(() => model.step(4)).toThrow('prompt too long for the KV baseline: 4 tokens > maxContext 3');
    expect(model.tttState(0)).toEqual(before);
    expect(model.position).toBe(3);
  });

  it('the attn cache grows past its first allocation and keeps earlier entries', () => {
    // An swa ring wider than the sequence is allocated in full up front: the growing attn cache must match it.
    const config = smallConfig(['attn'], {}, { maxContext: 200, window: 100 });
    const weights = attentionWeights(randomModel(config, EMPTY_TOKENIZER, 6), 0);
    const growing = new AttentionLayer('attn', weights, config);
    const preallocated = new AttentionLayer('swa', weights, config);
    const rng = new Rng(4);
    for (let pos = 0; pos < 70; pos++) {
      const xn = Float32Array.from({ length: config.dModel }, () => rng.normal());
      expect(Array.from(growing.step(xn, pos))).toEqual(Array.from(preallocated.step(xn, pos)));
    }
    expect(growing.cacheBytes(70)).toBe(2 * 70 * config.dModel * 4);
  });
});
