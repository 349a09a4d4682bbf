// The activations every layer shares: one set for the decode step (one token) and one for the chunk path (a row
// per token of a chunk). Layers run in sequence, each consuming its input before the next overwrites it, so one
// buffer of each kind serves the whole model; x (one row, or a row per token) is the residual stream.
import type { ModelConfig } from '../../types';
import { attnConfig } from '../../model/spec';
import { matvecInputWords } from '../bitlinear';
import { KERNEL_CONSTANTS } from '../shaders';
import { DRIFT_STATS_PER_HEAD } from './drift';

/** Token rows of the chunk buffers are padded to a multiple of this (lm_head_rows' tile; bitlinear_rows' divides it). */
const CHUNK_TILE = KERNEL_CONSTANTS.HEAD_TOKENS_PER_THREAD;

export interface StepActivations {
  /** f32[d]: the residual stream. */
  x: GPUBuffer;
  /** f32[d]: a normalised row (the TTT step's input, the final norm's output). */
  xn: GPUBuffer;
  /** int8 row and its scale (the unfused norms' output). */
  xq: GPUBuffer;
  xscale: GPUBuffer;
  /** Fused BitLinear outputs of a mixer: uq/uk/v/g or q/k/v(/g). */
  mixIn: GPUBuffer;
  /** The TTT decode step's conv outputs (q, k). */
  qk: GPUBuffer;
  /** z_h of TTT or o_h of attention, concatenated. */
  heads: GPUBuffer;
  /** FFN [a | c] (w1, w3 outputs). */
  ac: GPUBuffer;
  /** f32[V]: the logits of the last token step. */
  logits: GPUBuffer;
  /** u32: the position counter (advanced on the GPU by the last kernel of a step or chunk). */
  position: GPUBuffer;
  /** Uniform vec4: x multiplies every TTT layer's inner learning rate (1, or 0 for memory off). */
  memoryScale: GPUBuffer;
  /** f32[tttLayers, H, DRIFT_STATS_PER_HEAD]; null without TTT layers. */
  driftStats: GPUBuffer | null;
  /**
   * Uniform vec4<u32> each, x = 0 and x = 1: the TTT step's "write the drift stats" flag, bound per variant (two bind
   * groups of one pipeline, where an override made two pipelines: ~2 s of compiling each on SwiftShader).
   */
  driftFlags: [off: GPUBuffer, on: GPUBuffer];
  /** Norm outputs nobody reads, and stubs for bindings a norm kind does not use. */
  normScratch: GPUBuffer;
  unusedGate: GPUBuffer;
  unusedNormOut: GPUBuffer;
}

/** The decode buffers with one row per token of a chunk (maxChunkTokens rows). */
export interface ChunkActivations {
  /** u32[maxChunk]: the token ids of the chunk being read. */
  ids: GPUBuffer;
  /** Uniform vec4<u32>: x = tokens in the chunk being read. */
  info: GPUBuffer;
  x: GPUBuffer;
  xn: GPUBuffer;
  /**
   * Column-major int8 rows ([columns, paddedRows], columns in whole chunks of 64): the matrix products load 4 tokens of
   * a column as one vec4. Only the norms' quantize() writes it: int8 everywhere (bitlinear_rows_pairs relies on it).
   */
  xq: GPUBuffer;
  xscale: GPUBuffer;
  /** The final norm's rows, column-major like xq (lm_head_rows' input). */
  finalXn: GPUBuffer;
  mixIn: GPUBuffer;
  qk: GPUBuffer;
  heads: GPUBuffer;
  mixOut: GPUBuffer;
  ac: GPUBuffer;
  hidden: GPUBuffer;
  /** Attention: the chunk's own rotated k, v ([tokens, 2d]). */
  kv: GPUBuffer | null;
  /** "swa": the WINDOW keys before the chunk, then its own, in position order (attention.wgsl window_rows). */
  swaWindow: GPUBuffer | null;
  /** f32[maxChunk, V]: every token's logits of the last chunk read with logits 'all'. */
  logits: GPUBuffer;
  /** f32[V]: the logits of the token before the last chunk read with logits 'all'. */
  previousLogits: GPUBuffer;
  /** f32[maxChunk, tttLayers, H, DRIFT_STATS_PER_HEAD]: per-token drift of the last chunk read with drift. */
  driftStats: GPUBuffer | null;
  /** Rows of xq and finalXn: maxChunk padded to whole tiles (rows past the chunk are read, their results dropped). */
  paddedRows: number;
  /** Floats per token of driftStats. */
  statsStride: number;
}

export type Allocate = (label: string, bytes: number, usage?: 'uniform') => GPUBuffer;

export function createActivations(c: ModelConfig, maxChunk: number, allocate: Allocate): { step: StepActivations; chunk: ChunkActivations } {
  const d = c.dModel;
  const F = c.ffnHidden;
  const V = c.vocabSize;
  const attn = attnConfig(c);
  const hasAttention = c.mixers.some((m) => m !== 'ttt');
  const tttLayers = c.mixers.filter((m) => m === 'ttt').length;
  const statsStride = tttLayers * c.nHeads * DRIFT_STATS_PER_HEAD;
  const mixerRows = Math.max(...c.mixers.map((m) => (m === 'ttt' ? (c.ttt.shareQK ? 1 : 2) * d + d + (c.ttt.gate ? d : 0) : 3 * d + (attn.gate ? d : 0))));
  const step: StepActivations = {
    x: allocate('x', d * 4),
    xn: allocate('xn', d * 4),
    xq: allocate('xq', matvecInputWords(Math.max(d, F)) * 4), // the unfused norms' int8 rows (and the final norm's, unused)
    xscale: allocate('xscale', 16),
    mixIn: allocate('mixer_in', mixerRows * 4),
    qk: allocate('ttt_qk', 2 * d * 4),
    heads: allocate('head_outputs', d * 4),
    ac: allocate('ffn_ac', 2 * F * 4),
    logits: allocate('logits', V * 4),
    position: allocate('step_position', 16),
    memoryScale: allocate('ttt_memory_scale', 16, 'uniform'),
    driftStats: tttLayers > 0 ? allocate('drift_stats', statsStride * 4) : null,
    driftFlags: [allocate('drift_flag.off', 16, 'uniform'), allocate('drift_flag.on', 16, 'uniform')],
    normScratch: allocate('norm.scratch', Math.max(d, F) * 4),
    unusedGate: allocate('norm.no_gate', 16),
    unusedNormOut: allocate('norm.no_output', 16),
  };
  const paddedRows = Math.ceil(maxChunk / CHUNK_TILE) * CHUNK_TILE;
  const rows = (label: string, floatsPerRow: number) => allocate(`chunk.${label}`, maxChunk * floatsPerRow * 4);
  const chunk: ChunkActivations = {
    ids: rows('ids', 1),
    info: allocate('chunk.info', 16, 'uniform'),
    x: rows('x', d),
    xn: rows('xn', d),
    // Whole chunks of 64 columns (bitlinear_rows_pairs reads them all, and needs int8 in every one: zeros, or the
    // quantize() values of a wider norm's rows).
    xq: allocate('chunk.xq', paddedRows * matvecInputWords(Math.max(d, F)) * 4),
    xscale: rows('xscale', 1),
    finalXn: allocate('chunk.final_xn', paddedRows * d * 4),
    mixIn: rows('mixer_in', mixerRows),
    qk: rows('ttt_qk', (hasAttention && attn.convKernel > 0 ? 3 : 2) * d),
    heads: rows('head_outputs', d),
    mixOut: rows('mixer_out', d),
    ac: rows('ffn_ac', 2 * F),
    hidden: rows('ffn_hidden', F),
    kv: hasAttention ? rows('kv', 2 * d) : null,
    swaWindow: c.mixers.includes('swa') ? allocate('chunk.swa_window', (c.window + maxChunk) * 2 * d * 4) : null,
    logits: rows('logits', V),
    previousLogits: allocate('chunk.previous_logits', V * 4),
    driftStats: tttLayers > 0 ? rows('drift_stats', statsStride) : null,
    paddedRows,
    statsStride,
  };
  return { step, chunk };
}
