// The tiny test models (random weights, fixed seeds): the configs, and their files exactly as
// scripts/make-tiny-models.ts writes them to public/models/.
import type { ModelConfig, ModelFile, TokenizerSpec } from '../types';
import { randomModel } from '../model/random';
import { writeBttt } from './writer';

export const TINY_TOKENIZER: TokenizerSpec = { type: 'bpe', merges: [], specials: { '<|endoftext|>': 256 } };

const TINY_BASE: Omit<ModelConfig, 'arch' | 'mixers'> = {
  vocabSize: 257,
  dModel: 64,
  nLayers: 3,
  nHeads: 4,
  ffnHidden: 192,
  window: 8,
  contextLength: 64,
  maxContext: 1024,
  normEps: 1e-5,
  ropeTheta: 10000,
  tieEmbeddings: true,
  ttt: { miniBatch: 16, baseLr: 1.0, convKernel: 4, shareQK: true, gate: true },
};

export interface TinyModelDef {
  /** File name under public/models/. */
  file: string;
  name: string;
  description: string;
  seed: number;
  config: ModelConfig;
}

export const TINY_MODELS: readonly TinyModelDef[] = [
  {
    file: 'tiny-ttt.bttt',
    name: 'tiny-ttt',
    description: 'Random-weight TTT model for tests: layers ttt, swa (window 8), ttt.',
    seed: 1001,
    config: { ...TINY_BASE, ttt: { ...TINY_BASE.ttt }, arch: 'ttt', mixers: ['ttt', 'swa', 'ttt'] },
  },
  {
    file: 'tiny-kv.bttt',
    name: 'tiny-kv',
    description: 'Random-weight attention (KV-cache) baseline for tests, same sizes as tiny-ttt.',
    seed: 1002,
    config: { ...TINY_BASE, ttt: { ...TINY_BASE.ttt }, arch: 'kv', mixers: ['attn', 'attn', 'attn'] },
  },
  {
    file: 'tiny-kv-conv.bttt',
    name: 'tiny-kv-conv',
    description: 'Random-weight attention baseline with the TTT layers\' causal conv (kernel 4) on q/k/v and output gate, for tests; same sizes as tiny-kv.',
    seed: 1003,
    config: { ...TINY_BASE, ttt: { ...TINY_BASE.ttt }, arch: 'kv', mixers: ['attn', 'attn', 'attn'], attn: { convKernel: 4, gate: true } },
  },
];

export function tinyModel(def: TinyModelDef): ModelFile {
  const model = randomModel(def.config, TINY_TOKENIZER, def.seed);
  model.metadata = { name: def.name, description: def.description, createdBy: 'scripts/make-tiny-models.ts', seed: def.seed };
  return model;
}

/** The bytes of every tiny model file; deterministic. */
export function tinyModelFiles(): { file: string; bytes: Uint8Array }[] {
  return TINY_MODELS.map((def) => ({ file: def.file, bytes: writeBttt(tinyModel(def)) }));
}
