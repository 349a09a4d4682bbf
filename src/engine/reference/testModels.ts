// Small configs for the reference tests (not shipped): every option of MATH.md reachable with tiny shapes.
import type { ModelConfig, MixerKind, TokenizerSpec } from '../types';

export const EMPTY_TOKENIZER: TokenizerSpec = { type: 'bpe', merges: [], specials: {} };

export function smallConfig(mixers: MixerKind[], ttt: Partial<ModelConfig['ttt']> = {}, extra: Partial<ModelConfig> = {}): ModelConfig {
  return {
    arch: mixers.every((m) => m === 'attn') ? 'kv' : 'ttt',
    vocabSize: 64,
    dModel: 32,
    nLayers: mixers.length,
    nHeads: 4,
    ffnHidden: 48,
    mixers,
    window: 5,
    contextLength: 64,
    maxContext: 256,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
    ttt: { miniBatch: 16, baseLr: 1, convKernel: 4, shareQK: true, gate: true, ...ttt },
    ...extra,
  };
}
