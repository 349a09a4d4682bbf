// The tensors a config requires (docs/MATH.md, "Tensors"): the one list that the reader, the random-model
// generator and both runtimes agree on.
import type { AttnConfig, ModelConfig } from '../types';

/** Largest causal-conv kernel (config.ttt.convKernel, config.attn.convKernel); the kernels' shaders/common.wgsl MAX_CONV_KERNEL. */
export const MAX_CONV_KERNEL = 16;

export type TensorRole = 'float' | 'ternary';

export interface TensorSpec {
  name: string;
  role: TensorRole;
  shape: number[];
}

export function headSize(c: ModelConfig): number {
  return c.dModel / c.nHeads;
}

/** What a config without an `attn` object means: plain attention (train/model.py DEFAULT_ATTN). */
export const DEFAULT_ATTN: Readonly<AttnConfig> = Object.freeze({ convKernel: 0, gate: false });

/** The attention layers' options with the defaults filled in (the TypeScript side of normalize_config). */
export function attnConfig(c: ModelConfig): AttnConfig {
  return { ...DEFAULT_ATTN, ...c.attn };
}

export function expectedTensors(c: ModelConfig): TensorSpec[] {
  const d = c.dModel;
  const H = c.nHeads;
  const f = headSize(c);
  const F = c.ffnHidden;
  const out: TensorSpec[] = [];
  const float = (name: string, ...shape: number[]) => out.push({ name, role: 'float', shape });
  const ternary = (name: string, ...shape: number[]) => out.push({ name, role: 'ternary', shape });

  float('tok_embed', c.vocabSize, d);
  if (!c.tieEmbeddings) float('lm_head', c.vocabSize, d);
  float('final_norm', d);
  c.mixers.forEach((mixer, i) => {
    const p = `l${i}.`;
    float(p + 'mixer_norm', d);
    if (mixer === 'ttt') {
      const t = c.ttt;
      if (t.shareQK) ternary(p + 'ttt.wqk', d, d);
      else {
        ternary(p + 'ttt.wq', d, d);
        ternary(p + 'ttt.wk', d, d);
      }
      ternary(p + 'ttt.wv', d, d);
      ternary(p + 'ttt.wo', d, d);
      if (t.gate) ternary(p + 'ttt.wg', d, d);
      if (t.convKernel > 0) {
        float(p + 'ttt.conv_q', d, t.convKernel);
        float(p + 'ttt.conv_k', d, t.convKernel);
      }
      float(p + 'ttt.lr_w', H, d);
      float(p + 'ttt.lr_b', H);
      float(p + 'ttt.tok_offset', t.miniBatch);
      float(p + 'ttt.ln_w', H, f);
      float(p + 'ttt.ln_b', H, f);
      float(p + 'ttt.w_init', H, f, f);
      float(p + 'ttt.b_init', H, f);
      float(p + 'ttt.post_norm_w', d);
      float(p + 'ttt.post_norm_b', d);
    } else {
      const a = attnConfig(c);
      ternary(p + 'attn.wq', d, d);
      ternary(p + 'attn.wk', d, d);
      ternary(p + 'attn.wv', d, d);
      if (a.gate) ternary(p + 'attn.wg', d, d);
      if (a.convKernel > 0) {
        float(p + 'attn.conv_q', d, a.convKernel);
        float(p + 'attn.conv_k', d, a.convKernel);
        float(p + 'attn.conv_v', d, a.convKernel);
      }
      float(p + 'attn.subnorm', d);
      ternary(p + 'attn.wo', d, d);
    }
    float(p + 'ffn_norm', d);
    ternary(p + 'ffn.w1', F, d);
    ternary(p + 'ffn.w3', F, d);
    float(p + 'ffn.subnorm', F);
    ternary(p + 'ffn.w2', d, F);
  });
  return out;
}

/** Rules of MATH.md that a config must satisfy; returns the first violation or null. */
export function configProblem(c: ModelConfig): string | null {
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  for (const k of ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'ffnHidden', 'contextLength', 'maxContext'] as const) {
    if (!posInt(c[k])) return `config.${k} must be a positive integer`;
  }
  if (c.arch !== 'ttt' && c.arch !== 'kv') return 'config.arch must be "ttt" or "kv"';
  if (c.dModel % c.nHeads !== 0) return 'config.dModel must be a multiple of nHeads';
  if (headSize(c) % 2 !== 0) return 'the head size must be even (RoPE rotates pairs)';
  if (c.dModel % 16 !== 0 || c.ffnHidden % 16 !== 0) return 'dModel and ffnHidden must be multiples of 16';
  if (!Array.isArray(c.mixers) || c.mixers.length !== c.nLayers) return 'config.mixers must list one mixer per layer';
  for (const m of c.mixers) if (m !== 'ttt' && m !== 'attn' && m !== 'swa') return `unknown mixer "${String(m)}"`;
  if (c.arch === 'kv' && c.mixers.some((m) => m !== 'attn')) return 'a "kv" model has only "attn" mixers';
  if (c.mixers.includes('swa') && !posInt(c.window)) return 'config.window must be a positive integer for "swa" layers';
  if (!(c.normEps > 0) || !(c.ropeTheta > 0)) return 'config.normEps and ropeTheta must be positive';
  if (typeof c.tieEmbeddings !== 'boolean') return 'config.tieEmbeddings must be a boolean';
  const t = c.ttt;
  if (!t || typeof t !== 'object') return 'config.ttt is missing';
  if (!posInt(t.miniBatch)) return 'config.ttt.miniBatch must be a positive integer';
  if (!Number.isInteger(t.convKernel) || t.convKernel < 0 || t.convKernel > MAX_CONV_KERNEL) return `config.ttt.convKernel must be 0..${MAX_CONV_KERNEL}`;
  if (typeof t.shareQK !== 'boolean' || typeof t.gate !== 'boolean') return 'config.ttt.shareQK and gate must be booleans';
  if (t.shareQK && t.convKernel === 0) return 'config.ttt.shareQK needs convKernel > 0';
  if (!(t.baseLr > 0)) return 'config.ttt.baseLr must be positive';
  const a = c.attn;
  if (a !== undefined) {
    if (!a || typeof a !== 'object') return 'config.attn must be an object';
    if (!Number.isInteger(a.convKernel) || a.convKernel < 0 || a.convKernel > MAX_CONV_KERNEL) return `config.attn.convKernel must be 0..${MAX_CONV_KERNEL}`;
    if (typeof a.gate !== 'boolean') return 'config.attn.gate must be a boolean';
  }
  return null;
}
