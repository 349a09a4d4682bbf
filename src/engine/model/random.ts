// Deterministic random models for tests: every tensor of expectedTensors(config), drawn from a seeded PRNG
// with magnitudes that keep activations in a realistic range.
import { Rng } from '../util/rng';
import type { ModelConfig, ModelFile, Tensor, TokenizerSpec } from '../types';
import { attnConfig, expectedTensors } from './spec';

export function randomModel(config: ModelConfig, tokenizer: TokenizerSpec, seed: number): ModelFile {
  const rng = new Rng(seed);
  const tensors = new Map<string, Tensor>();
  for (const spec of expectedTensors(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.role === 'ternary') {
      const values = new Int8Array(n);
      for (let i = 0; i < n; i++) {
        const u = rng.next();
        values[i] = u < 0.3 ? -1 : u < 0.7 ? 0 : 1; // ~40% zeros, as BitNet training tends to give
      }
      tensors.set(spec.name, { kind: 'ternary', shape: spec.shape, scale: 0.02 + 0.03 * rng.next(), values });
      continue;
    }
    const data = new Float32Array(n);
    const leaf = spec.name.slice(spec.name.lastIndexOf('.') + 1);
    const fill = (f: () => number) => {
      for (let i = 0; i < n; i++) data[i] = f();
    };
    if (leaf.endsWith('norm') || leaf === 'ln_w' || leaf === 'post_norm_w' || leaf === 'subnorm') fill(() => 1 + 0.1 * rng.normal());
    else if (leaf === 'ln_b' || leaf === 'post_norm_b' || leaf === 'b_init') fill(() => 0.02 * rng.normal());
    else if (leaf === 'w_init') fill(() => 0.02 * rng.normal());
    else if (leaf === 'tok_offset') fill(() => 0.01 * rng.normal());
    else if (leaf === 'lr_w') fill(() => 0.05 * rng.normal());
    else if (leaf === 'lr_b') fill(() => -1 + 0.1 * rng.normal());
    else if (leaf === 'conv_q' || leaf === 'conv_k' || leaf === 'conv_v') {
      const K = spec.name.includes('.attn.') ? attnConfig(config).convKernel : config.ttt.convKernel;
      fill(() => (1 / K) * (1 + 0.3 * rng.normal()));
    }
    else fill(() => 0.5 * rng.normal()); // tok_embed, lm_head
    tensors.set(spec.name, { kind: 'float', shape: spec.shape, data });
  }
  return { config, tokenizer, metadata: { kind: 'random', seed }, tensors, fileBytes: 0 };
}
