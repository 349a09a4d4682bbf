// Computed (never measured) memory projections for model shapes a person knows: at which context length a KV cache
// fills a GPU, against the constant decode state of a TTT model of the same shape (docs/MATH.md, "State per TTT
// layer"). Pure arithmetic, so the memory view can show it before anything has been read and tests can check it.
import type { ModelConfig } from '../../engine/types';

/** A decoder's shape, as far as its decode-time memory is concerned. */
export interface ModelShape {
  name: string;
  layers: number;
  dModel: number;
  /** Query heads; the TTT layer at this shape has this many heads of size dModel / heads. */
  heads: number;
  /** Key/value heads (grouped-query attention shares each among heads / kvHeads query heads). */
  kvHeads: number;
  /** Bytes per stored K or V value: 2 for f16/bf16, 4 for f32 (this engine), 1 for an 8-bit cache. */
  kvBytesPerValue: number;
  /** Bytes per TTT state value (W0, GW, b0, Gb, conv history): 4, f32, as this engine stores it. */
  stateBytesPerValue: number;
  /** Causal conv kernel before Q/K in each TTT layer (0: none); its history is 2·(K−1)·d values. */
  convKernel: number;
}

/** The engine keeps the TTT state in f32: a gradient step per token accumulates into it. */
export const TTT_STATE_BYTES_PER_VALUE = 4;

/** Shapes from the published configs, all layers counted as attention (KV) or as TTT (state). */
export const KNOWN_SHAPES: ModelShape[] = [
  // microsoft/bitnet-b1.58-2B-4T: hidden 2560, 30 layers, 20 query heads and 5 KV heads of 128.
  { name: 'BitNet b1.58 2B-shaped', layers: 30, dModel: 2560, heads: 20, kvHeads: 5, kvBytesPerValue: 2, stateBytesPerValue: TTT_STATE_BYTES_PER_VALUE, convKernel: 4 },
  // meta-llama/Meta-Llama-3-8B: hidden 4096, 32 layers, 32 query heads and 8 KV heads of 128.
  { name: 'Llama 3 8B-shaped', layers: 32, dModel: 4096, heads: 32, kvHeads: 8, kvBytesPerValue: 2, stateBytesPerValue: TTT_STATE_BYTES_PER_VALUE, convKernel: 4 },
];

export interface ShapeProjection {
  headDim: number;
  /** 2 (K and V) · layers · kvHeads · headDim · kvBytesPerValue. */
  kvBytesPerToken: number;
  /** The longest context whose KV cache fits in `capacityBytes`: ⌊capacity / kvBytesPerToken⌋. */
  kvFillTokens: number;
  /** Values of one TTT layer's state: H·(2f² + 2f) + 2·(K−1)·d. */
  tttValuesPerLayer: number;
  /** layers · tttValuesPerLayer · stateBytesPerValue; the same at every context length. */
  tttStateBytes: number;
  /** The context length at which the KV cache grows as large as the TTT state: tttStateBytes / kvBytesPerToken. */
  kvTokensMatchingState: number;
}

const FIELD_LABELS: Record<Exclude<keyof ModelShape, 'name'>, string> = {
  layers: 'layers', dModel: 'd (model width)', heads: 'heads', kvHeads: 'KV heads',
  kvBytesPerValue: 'KV bytes per value', stateBytesPerValue: 'TTT state bytes per value', convKernel: 'conv kernel',
};

export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

/** Checks a shape a person typed; throws a ShapeError naming the first field that cannot be right. */
export function validateShape(s: ModelShape): void {
  for (const key of ['layers', 'dModel', 'heads', 'kvHeads', 'kvBytesPerValue', 'stateBytesPerValue'] as const) {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ShapeError(`${FIELD_LABELS[key]} must be a positive number (got ${String(v)})`);
  }
  for (const key of ['layers', 'dModel', 'heads', 'kvHeads', 'convKernel'] as const) {
    if (!Number.isInteger(s[key])) throw new ShapeError(`${FIELD_LABELS[key]} must be a whole number (got ${String(s[key])})`);
  }
  if (typeof s.convKernel !== 'number' || s.convKernel < 0) throw new ShapeError(`conv kernel must be 0 (none) or more (got ${s.convKernel})`);
  if (s.dModel % s.heads !== 0) throw new ShapeError(`d ${s.dModel} must be a multiple of heads ${s.heads} (head size d / heads)`);
  if (s.kvHeads > s.heads || s.heads % s.kvHeads !== 0) throw new ShapeError(`KV heads ${s.kvHeads} must divide heads ${s.heads}`);
}

export function tttValuesPerLayer(s: Pick<ModelShape, 'dModel' | 'heads' | 'convKernel'>): number {
  const f = s.dModel / s.heads;
  const convHistory = s.convKernel > 0 ? 2 * (s.convKernel - 1) * s.dModel : 0;
  return s.heads * (2 * f * f + 2 * f) + convHistory;
}

export function projectShape(s: ModelShape, capacityBytes: number): ShapeProjection {
  validateShape(s);
  const headDim = s.dModel / s.heads;
  const kvBytesPerToken = 2 * s.layers * s.kvHeads * headDim * s.kvBytesPerValue;
  const perLayer = tttValuesPerLayer(s);
  const tttStateBytes = s.layers * perLayer * s.stateBytesPerValue;
  return {
    headDim,
    kvBytesPerToken,
    kvFillTokens: Math.floor(capacityBytes / kvBytesPerToken),
    tttValuesPerLayer: perLayer,
    tttStateBytes,
    kvTokensMatchingState: tttStateBytes / kvBytesPerToken,
  };
}

/**
 * The shipped pair, each from its own config as this engine runs it (f32 everywhere): the KV baseline's cache per
 * token over its attention layers, and the TTT model's constant state — its TTT layers' state plus the fixed
 * `window`-slot KV rings of its sliding-window layers (and their q/k/v conv histories, 3·(K−1)·d each, when
 * `attn.convKernel` K > 0; docs/MATH.md).
 */
export interface PairProjection {
  kvBytesPerToken: number;
  kvFillTokens: number;
  tttStateBytes: number;
  kvTokensMatchingState: number;
}

type ConfigPart = Pick<ModelConfig, 'mixers' | 'dModel' | 'nHeads' | 'window' | 'ttt' | 'attn'>;

function attnConvHistoryValues(c: ConfigPart): number {
  const K = c.attn?.convKernel ?? 0;
  return K > 0 ? 3 * (K - 1) * c.dModel : 0;
}

export function projectPair(ttt: ConfigPart, kv: ConfigPart, capacityBytes: number): PairProjection {
  const f32 = 4;
  const attnLayers = kv.mixers.filter((m) => m === 'attn').length;
  const kvBytesPerToken = 2 * attnLayers * kv.dModel * f32;
  const tttLayers = ttt.mixers.filter((m) => m === 'ttt').length;
  const swaLayers = ttt.mixers.filter((m) => m === 'swa').length;
  const tttStateBytes =
    tttLayers * tttValuesPerLayer({ dModel: ttt.dModel, heads: ttt.nHeads, convKernel: ttt.ttt.convKernel }) * f32 +
    2 * swaLayers * ttt.window * ttt.dModel * f32 +
    swaLayers * attnConvHistoryValues(ttt) * f32;
  return {
    kvBytesPerToken,
    kvFillTokens: kvBytesPerToken > 0 ? Math.floor(capacityBytes / kvBytesPerToken) : Infinity,
    tttStateBytes,
    kvTokensMatchingState: kvBytesPerToken > 0 ? tttStateBytes / kvBytesPerToken : Infinity,
  };
}
