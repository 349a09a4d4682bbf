// Types shared by every part of the engine: the model config (MATH.md), the tokenizer spec (FORMAT.md),
// generation parameters and the per-token events the worker streams to the UI.

export type MixerKind = 'ttt' | 'attn' | 'swa';

export interface TttConfig {
  miniBatch: number;
  baseLr: number;
  convKernel: number;
  shareQK: boolean;
  gate: boolean;
}

/** The attention layers' local features (MATH.md, attention mixer): a causal conv on q/k/v and an output gate. */
export interface AttnConfig {
  convKernel: number;
  gate: boolean;
}

export interface ModelConfig {
  arch: 'ttt' | 'kv';
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  ffnHidden: number;
  mixers: MixerKind[];
  window: number;
  contextLength: number;
  maxContext: number;
  normEps: number;
  ropeTheta: number;
  tieEmbeddings: boolean;
  ttt: TttConfig;
  /** Applies to every "attn" and "swa" layer; absent (files before it existed) means DEFAULT_ATTN (plain attention). */
  attn?: AttnConfig;
}

export interface TokenizerSpec {
  type: 'bpe';
  merges: [number, number][];
  specials: Record<string, number>;
}

export interface SamplingParams {
  /** 0 means greedy (argmax). */
  temperature: number;
  /** 0 disables top-k. */
  topK: number;
  /** 1 disables top-p. */
  topP: number;
  /** 1 disables the penalty; applied to tokens in the last `repetitionWindow` ids. */
  repetitionPenalty: number;
  repetitionWindow: number;
  seed: number;
  maxTokens: number;
  /** Stop at the end-of-text token (default true). */
  stopAtEot?: boolean;
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  repetitionPenalty: 1.1,
  repetitionWindow: 64,
  seed: 1,
  maxTokens: 200,
  stopAtEot: true,
};

/** Drift of one TTT head after a token (MATH.md, "Drift statistics"). */
export interface HeadDrift {
  norm: number;
  cos: number;
  lossBefore: number;
  lossAfter: number;
  /** ‖W0 − w_init‖_F of the mini-batch start state this token's step used: changes only at mini-batch boundaries. */
  w0Norm: number;
}

/** One entry per TTT layer, in layer order; `layer` is the model layer index. */
export interface LayerDrift {
  layer: number;
  heads: HeadDrift[];
}

export type MemoryTag = 'weights' | 'ttt-state' | 'kv-cache' | 'activations' | 'scratch';

export interface MemoryReport {
  /** Exact bytes of live GPU buffers per tag: what is allocated. */
  bytes: Record<MemoryTag, number>;
  total: number;
  buffers: number;
  /** Tokens the model state has seen since the last reset. */
  position: number;
  /**
   * The kv-cache tag in detail. `allocated` = bytes['kv-cache'] (the "attn" caches grow by doubling, so they may
   * hold up to twice the slots in use); `inUse` counts only the slots that hold tokens (an "attn" layer's first
   * `position` slots, a "swa" ring's min(position, window)) plus the attention conv histories (always in use).
   */
  kvCache: { allocated: number; inUse: number };
  /**
   * Per block, in config.mixers order: the bytes per tag of the buffers its mixer and FFN allocated (weights, its
   * TTT state or KV cache; the shared activations are the model's, not a block's), and its mixer's state bytes in
   * use at `position` (a TTT state: all of it; a KV cache: as kvCache.inUse). GPU models give it.
   */
  layers?: LayerMemory[];
}

export interface LayerMemory {
  mixer: MixerKind;
  bytes: Record<MemoryTag, number>;
  stateInUse: number;
}

/** A decoded tensor: floats (f32/f16 widened) or ternary values with their per-tensor scale. */
export interface FloatTensor {
  kind: 'float';
  shape: number[];
  data: Float32Array;
}

export interface TernaryTensor {
  kind: 'ternary';
  shape: number[];
  /** s_w of MATH.md. */
  scale: number;
  /** Row-major values in {-1, 0, 1}. */
  values: Int8Array;
}

export type Tensor = FloatTensor | TernaryTensor;

/** A model in memory, as the format reader returns it and every runtime consumes it. */
export interface ModelFile {
  config: ModelConfig;
  tokenizer: TokenizerSpec;
  metadata: Record<string, unknown>;
  tensors: Map<string, Tensor>;
  /** Size of the serialized file (0 for a model built in memory). */
  fileBytes: number;
}
