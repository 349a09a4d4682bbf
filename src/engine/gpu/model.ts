// The model graph on the GPU (docs/MATH.md): weights uploaded and repacked once, every pipeline and bind group
// created at load, and the whole token step (embedding → layers → logits) recorded into one compute pass.
// Per-token data lives on the GPU: the token id (written by the caller or the GPU sampler) and a position
// counter that the last kernel of each step advances, so consecutive steps need no host writes at all.
import type { LayerDrift, MemoryReport, ModelConfig, ModelFile, Tensor, TernaryTensor } from '../types';
import { attnConfig, configProblem, expectedTensors, headSize } from '../model/spec';
import { grownKvSlots } from '../model/kv-cache';
import { ContextOverflowError } from '../reference/attention';
import type { GpuContext, StagingReader } from './context';
import { packFloatTable, type PackedFloatTable } from './float-table';
import { packTernaryMatvec, ropePhaseSteps } from './pack';
import { matvecInputWords, matvecPlan } from './bitlinear';
import { KERNEL_CONSTANTS, MAX_HEAD_SIZE, SHADERS, WORKGROUP_SIZE, type ShaderName } from './shaders';
import { packTttParams, tttInputLayout, tttOffsetConstants, tttSegmentTokens, tttStateLayout, type TttParamLayout, type TttStateLayout } from './ttt-layout';

export { ContextOverflowError };

/** Floats per TTT head in driftStats: norm, cos, lossBefore, lossAfter, w0Norm (shaders/ttt.wgsl ttt_step). */
export const DRIFT_STATS_PER_HEAD = 5;

/** Decodes a copy of GpuModel.driftStats: one entry per TTT layer (`tttLayers` gives their model indices). */
export function parseDriftStats(raw: Float32Array, tttLayers: readonly number[], nHeads: number): LayerDrift[] {
  return tttLayers.map((layer, slot) => ({
    layer,
    heads: Array.from({ length: nHeads }, (_, h) => {
      const s = (slot * nHeads + h) * DRIFT_STATS_PER_HEAD;
      return { norm: raw[s], cos: raw[s + 1], lossBefore: raw[s + 2], lossAfter: raw[s + 3], w0Norm: raw[s + 4] };
    }),
  }));
}

export class GpuModelError extends Error {
  override readonly name = 'GpuModelError';
}

export interface GpuModelOptions {
  /** Token slots of an "attn" KV cache after a reset (default 8); it doubles when full (model/kv-cache.ts). */
  kvInitialTokens?: number;
  /** Most tokens one encodeChunk call reads (default DEFAULT_MAX_CHUNK_TOKENS); its buffers are sized at load. */
  maxChunkTokens?: number;
}

/** Tokens per prefill chunk unless GpuModelOptions.maxChunkTokens says otherwise. */
export const DEFAULT_MAX_CHUNK_TOKENS = 64;
/** Tokens and rows per thread of the chunk kernels (the shaders' generated constants). */
const { HEAD_TOKENS_PER_THREAD, HEAD_ROWS_PER_THREAD, BITLINEAR_TOKENS_PER_THREAD, BITLINEAR_ROWS_PER_THREAD } = KERNEL_CONSTANTS;
/** Token rows of the chunk buffers are padded to a multiple of this (lm_head_rows' tile; bitlinear_rows' divides it). */
const CHUNK_TILE = HEAD_TOKENS_PER_THREAD;

/** Which logits encodeChunk computes (see ChunkOptions). */
export type ChunkLogits = 'last' | 'all' | 'none';

export interface ChunkOptions {
  /**
   * 'last' (default): the last token's logits into `logits`, as encodeStep leaves them (the sampler reads them).
   * 'all': every token's into `chunkLogits` ([count, V]), the last one also into `logits`, and the logits of the
   * token before the chunk into `previousLogits` (what the chunk's first token is scored against).
   * 'none': no LM head at all; `logits` then still holds the logits of the token before the chunk.
   */
  logits?: ChunkLogits;
  /** Compute each token's drift statistics into `chunkDriftStats` (the last token's into `driftStats` too). */
  drift?: boolean;
  /** Profiling only: every dispatch in its own compute pass, timed as `timer` says (see DispatchTimer). */
  timer?: DispatchTimer;
}

/**
 * Profiling (the bench's "where the time goes"): with a timer, encodeStep / encodeChunk record each dispatch in a
 * compute pass of its own whose timestamp writes `timer.pass(label)` gives. Results are the same; only speed differs.
 */
export interface DispatchTimer {
  pass(label: string): GPUComputePassTimestampWrites;
}

/** Records dispatches into one compute pass, or one pass each (with timestamps) when a timer is given. */
class PassRecorder {
  private shared: GPUComputePassEncoder | null = null;
  constructor(private readonly encoder: GPUCommandEncoder, private readonly label: string, private readonly timer?: DispatchTimer) {}

  dispatch(label: string, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, x: number, y = 1): void {
    let pass: GPUComputePassEncoder;
    if (this.timer) pass = this.encoder.beginComputePass({ label, timestampWrites: this.timer.pass(label) });
    else pass = this.shared ??= this.encoder.beginComputePass({ label: this.label });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    if (this.timer) pass.end();
  }

  end(): void {
    this.shared?.end();
    this.shared = null;
  }
}

// Read lazily: under Node the `webgpu` package installs GPUBufferUsage on globalThis after this module loads.
const storageUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

interface Dispatch {
  pipeline: GPUComputePipeline;
  /** Buffers bound at @binding(0..n) of group 0 (null: a binding number the kernel does not use), looked up when the bind group is (re)built. */
  buffers: () => (GPUBuffer | null)[];
  bindGroup: GPUBindGroup | null;
  workgroups: number;
  /** Rebuilt when the KV cache is reallocated. */
  usesKvCache: boolean;
  label: string;
  /** ttt_step only: its variant that also writes the drift stats, run by steps encoded with { drift: true }. */
  drift?: { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup | null };
}

/** Per-step choices of encodeStep / step. */
export interface StepOptions {
  /**
   * Compute the drift stats (driftStats) in this step. They read all of w_init, so a step leaves them alone
   * unless asked (logits and state are the same either way); readDrift() refuses stats older than the last step.
   */
  drift?: boolean;
  /** Profiling only (see DispatchTimer). */
  timer?: DispatchTimer;
}

/** A [rows, cols] float table on the GPU as u32 words (float-table.ts): f16 pairs or f32. */
interface FloatTableGpu {
  buffer: GPUBuffer;
  f16: boolean;
  rowWords: number;
}

/** A dispatch of the chunk path: its grid depends on the chunk's token count. */
/** A pipeline named but not compiled yet (the chunk path's, compiled on its first use: see ensureChunkPipelines). */
interface PipelineSpec {
  shader: ShaderName;
  entry: string;
  constants: Record<string, number>;
}

interface ChunkDispatch extends Omit<Dispatch, 'workgroups' | 'drift' | 'pipeline'> {
  spec: PipelineSpec;
  /** Null until the first encodeChunk compiles the chunk path. */
  pipeline: GPUComputePipeline | null;
  grid: (count: number) => [number, number];
  /** Only recorded when the caller asks for drift statistics (true) or when it does not (false). */
  drift?: boolean;
}

interface PackedWeight {
  words: GPUBuffer;
  scales: GPUBuffer;
  rows: number;
  cols: number;
}

/** NORM_KIND of shaders/common.wgsl's norm prologue. */
const NORM_RMS = 1;
const NORM_RMS_GATE = 2;
const NORM_SWIGLU = 3;
const NORM_LAYER = 4;

/** The input of a norm prologue: its kind, rows at @binding(6), gains (and biases) at 7, gate rows at 8. */
interface NormInput {
  kind: number;
  src: GPUBuffer;
  params: GPUBuffer;
  gate?: GPUBuffer;
  /** NORM_* override constants of the kind (offsets, strides, NORM_GATED). */
  constants?: Record<string, number>;
}

interface TttLayerGpu {
  kind: 'ttt';
  index: number;
  /** Index among TTT layers (row of the drift stats). */
  tttSlot: number;
  params: GPUBuffer;
  paramLayout: TttParamLayout;
  state: GPUBuffer;
  stateLayout: TttStateLayout;
  /** Host copies of the constant w_init [H, f, f] and tok_offset [b], for tttMatrixDelta (no GPU reads). */
  hostWInit: Float32Array;
  hostTokOffset: Float32Array;
}

interface AttnLayerGpu {
  kind: 'attn' | 'swa';
  index: number;
  /** [slots, 2, d] f32: k then v per slot. */
  cache: GPUBuffer;
  slots: number;
  /** config.attn.convKernel > 0: the pre-conv q, k, v histories, [3, K−1, d] f32 (tagged kv-cache: decode state). */
  convHistory: GPUBuffer | null;
}

type MixerGpu = TttLayerGpu | AttnLayerGpu;

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function floatData(model: ModelFile, name: string): Float32Array {
  const t = model.tensors.get(name);
  if (!t || t.kind !== 'float') throw new GpuModelError(`tensor ${name} is missing or not a float tensor`);
  return t.data;
}

function ternary(model: ModelFile, name: string): TernaryTensor {
  const t = model.tensors.get(name);
  if (!t || t.kind !== 'ternary') throw new GpuModelError(`tensor ${name} is missing or not a ternary tensor`);
  return t;
}

function checkModel(model: ModelFile): void {
  const c = model.config;
  const problem = configProblem(c);
  if (problem) throw new GpuModelError(`invalid model config: ${problem}`);
  if (headSize(c) > MAX_HEAD_SIZE) throw new GpuModelError(`head size ${headSize(c)} exceeds the GPU kernels' limit of ${MAX_HEAD_SIZE}`);
  for (const spec of expectedTensors(c)) {
    const t: Tensor | undefined = model.tensors.get(spec.name);
    if (!t) throw new GpuModelError(`missing tensor ${spec.name}`);
    if (t.kind !== spec.role) throw new GpuModelError(`tensor ${spec.name} must be ${spec.role}, got ${t.kind}`);
    if (t.shape.length !== spec.shape.length || t.shape.some((v, i) => v !== spec.shape[i])) {
      throw new GpuModelError(`tensor ${spec.name} has shape [${t.shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    }
    const n = t.kind === 'float' ? t.data.length : t.values.length;
    if (n !== product(spec.shape)) throw new GpuModelError(`tensor ${spec.name} holds ${n} values, its shape needs ${product(spec.shape)}`);
  }
}

export class GpuModel {
  readonly config: ModelConfig;
  /** f32[V]: the logits of the last token step. */
  readonly logits: GPUBuffer;
  /** f32[tttLayers, H, DRIFT_STATS_PER_HEAD] of the last step (see parseDriftStats); null without TTT layers. */
  readonly driftStats: GPUBuffer | null;
  /** Model layer index of each row of driftStats. */
  readonly tttLayers: number[];
  private pos = 0;
  private readonly ctx: GpuContext;
  private readonly owned: Set<GPUBuffer>;
  private readonly dispatches: Dispatch[] = [];
  /** The chunk path's layers, recorded by encodeChunk (embedding first, then every layer; no head). */
  private readonly chunkDispatches: ChunkDispatch[] = [];
  /** The chunk path's LM head for 'all': final norm over the rows, then the rows' logits. */
  private readonly chunkHeadDispatches: ChunkDispatch[];
  private readonly chunkAdvance: ChunkDispatch;
  /**
   * The decode step's final norm and an LM head that leaves the position alone (the decode step's advances it),
   * run by encodeChunk for 'last' on a copy of the last row; chunkAdvance advances the position once per chunk.
   */
  private readonly headDispatches: Dispatch[];
  /** Most tokens per encodeChunk call. */
  readonly maxChunkTokens: number;
  /** u32[maxChunkTokens]: the token ids of the chunk being read. */
  readonly chunkIds: GPUBuffer;
  /** Uniform vec4<u32>: x = tokens in the chunk being read. */
  private readonly chunkInfo: GPUBuffer;
  private readonly chunkX: GPUBuffer;
  /** f32[maxChunkTokens, V]: every token's logits of the last chunk read with logits 'all'. */
  readonly chunkLogits: GPUBuffer;
  /** f32[V]: the logits of the token before the last chunk read with logits 'all'. */
  readonly previousLogits: GPUBuffer;
  /** f32[maxChunkTokens, tttLayers, H, DRIFT_STATS_PER_HEAD]: per-token drift of the last chunk read with drift. */
  readonly chunkDriftStats: GPUBuffer | null;
  private readonly embedPipeline: GPUComputePipeline;
  private readonly embedBindGroups = new WeakMap<GPUBuffer, GPUBindGroup>();
  private readonly embedTable: FloatTableGpu;
  private readonly x: GPUBuffer;
  private readonly stepPosition: GPUBuffer;
  /** Uniform vec4: x multiplies every TTT layer's inner learning rate (1, or 0 for memory off). */
  private readonly memoryScale: GPUBuffer;
  private memory = true;
  /** Whether driftStats describes the state after the last step (false after a step without drift). */
  private driftCurrent = true;
  private readonly mixers: MixerGpu[];
  private readonly kvInitialTokens: number;
  private readonly hostToken: GPUBuffer;
  private readonly logitsReadback: GPUBuffer;
  /** Reused for saveState, readDrift and tttMatrixDelta (one submit + map per call, no buffer per call). */
  private readonly staging: StagingReader;
  private destroyed = false;

  private constructor(ctx: GpuContext, model: ModelFile, opts: GpuModelOptions, owned: Set<GPUBuffer>) {
    // The caller holds `owned` too, so that it can free what was allocated when this constructor throws midway.
    this.owned = owned;
    checkModel(model);
    const c = model.config;
    this.ctx = ctx;
    this.config = c;
    const kvInitialTokens = opts.kvInitialTokens ?? 8;
    if (!Number.isInteger(kvInitialTokens) || kvInitialTokens <= 0) throw new GpuModelError(`kvInitialTokens must be a positive integer, got ${kvInitialTokens}`);
    this.kvInitialTokens = kvInitialTokens;
    const STORAGE = storageUsage();
    const d = c.dModel;
    const H = c.nHeads;
    const f = headSize(c);
    const F = c.ffnHidden;
    const V = c.vocabSize;
    const K = c.ttt.convKernel;
    const B = c.ttt.miniBatch;
    const eps = c.normEps;
    const maxChunk = opts.maxChunkTokens ?? DEFAULT_MAX_CHUNK_TOKENS;
    if (!Number.isInteger(maxChunk) || maxChunk <= 0) throw new GpuModelError(`maxChunkTokens must be a positive integer, got ${maxChunk}`);
    this.maxChunkTokens = maxChunk;

    const weight = (label: string, data: ArrayBufferView) => this.own(ctx.createBufferWithData('weights', label, data, STORAGE));
    const activation = (label: string, bytes: number) => this.own(ctx.createBuffer('activations', label, bytes, STORAGE));
    const packed = (label: string, tensors: TernaryTensor[]): PackedWeight => {
      const p = packTernaryMatvec(tensors);
      return { words: weight(`${label}.packed`, p.words), scales: weight(`${label}.row_scales`, p.rowScales), rows: p.rows, cols: p.cols };
    };

    // Weights shared by all layers. The embedding and LM head tables are f16 on the GPU whenever every value is
    // exactly an f16 (always for a .bttt that stores them as f16, the default); a tied model keeps one copy.
    const floatTable = (name: string): FloatTableGpu => {
      const t: PackedFloatTable = packFloatTable(floatData(model, name), V, d);
      return { buffer: weight(`${name}${t.f16 ? '.f16' : ''}`, t.words), f16: t.f16, rowWords: t.rowWords };
    };
    this.embedTable = floatTable('tok_embed');
    const headTable = c.tieEmbeddings ? this.embedTable : floatTable('lm_head');
    const finalNorm = weight('final_norm', floatData(model, 'final_norm'));
    const hasAttention = c.mixers.some((m) => m !== 'ttt');
    const ropeSteps = hasAttention ? weight('rope_phase_steps', ropePhaseSteps(f, c.ropeTheta)) : null;

    // Activations, shared by the layers (each kernel consumes its input before the next overwrites it).
    const attn = attnConfig(c);
    const mixerRows = Math.max(
      ...c.mixers.map((m) => (m === 'ttt' ? (c.ttt.shareQK ? 1 : 2) * d + d + (c.ttt.gate ? d : 0) : 3 * d + (attn.gate ? d : 0))),
    );
    this.x = activation('x', d * 4);
    const xn = activation('xn', d * 4);
    const xq = activation('xq', matvecInputWords(Math.max(d, F)) * 4); // int8 rows of the unfused norms (and the final norm's, unused)
    const xscale = activation('xscale', 16);
    const mixIn = activation('mixer_in', mixerRows * 4); // fused BitLinear outputs (uq/uk/v/g or q/k/v)
    const qk = activation('ttt_qk', 2 * d * 4); // the TTT decode step's conv outputs (q, k)
    const heads = activation('head_outputs', d * 4); // z_h of TTT or o_h of attention, concatenated
    const ac = activation('ffn_ac', 2 * F * 4);
    this.logits = this.own(ctx.createBuffer('activations', 'logits', V * 4, STORAGE));
    this.stepPosition = activation('step_position', 16);
    this.memoryScale = this.own(ctx.createBufferWithData('activations', 'ttt_memory_scale', new Float32Array([1, 0, 0, 0]), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST));
    this.hostToken = this.own(ctx.createBuffer('scratch', 'host_token', 16, STORAGE));
    this.logitsReadback = this.own(ctx.createBuffer('scratch', 'logits_readback', V * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST));
    this.staging = ctx.stagingReader('model.readback');

    const tttLayers: number[] = [];
    c.mixers.forEach((m, i) => m === 'ttt' && tttLayers.push(i));
    this.tttLayers = tttLayers;
    this.driftStats = tttLayers.length > 0 ? activation('drift_stats', tttLayers.length * H * DRIFT_STATS_PER_HEAD * 4) : null;

    // The chunk path's activations: the decode buffers above with one row per token of a chunk.
    const statsStride = tttLayers.length * H * DRIFT_STATS_PER_HEAD;
    const qkRows = (hasAttention && attn.convKernel > 0 ? 3 : 2) * d;
    const rows = (label: string, floatsPerRow: number) => activation(`chunk.${label}`, maxChunk * floatsPerRow * 4);
    this.chunkIds = rows('ids', 1);
    this.chunkInfo = this.own(ctx.createBuffer('activations', 'chunk.info', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST));
    const X = (this.chunkX = rows('x', d));
    const XN = rows('xn', d);
    // Column-major ([columns, paddedRows]) so that the matrix products load 4 tokens of a column as one vec4; padded
    // to whole tiles (the rows past the chunk are read and their results dropped).
    const paddedRows = Math.ceil(maxChunk / CHUNK_TILE) * CHUNK_TILE;
    const XQ = activation('chunk.xq', paddedRows * Math.max(d, F) * 4);
    const XSCALE = rows('xscale', 1);
    const XNT = activation('chunk.final_xn', paddedRows * d * 4);
    const MIX = rows('mixer_in', mixerRows);
    const QK = rows('ttt_qk', qkRows);
    const HEADS = rows('head_outputs', d);
    const MIXOUT = rows('mixer_out', d);
    const AC = rows('ffn_ac', 2 * F);
    const HIDDEN = rows('ffn_hidden', F);
    const KV = hasAttention ? rows('kv', 2 * d) : null;
    // An "swa" chunk's keys in position order: the WINDOW before the chunk, then its own (attention.wgsl window_rows).
    const WINDOW_KV = c.mixers.includes('swa') ? activation('chunk.swa_window', (c.window + maxChunk) * 2 * d * 4) : null;
    this.chunkLogits = rows('logits', V);
    this.previousLogits = activation('chunk.previous_logits', V * 4);
    this.chunkDriftStats = tttLayers.length > 0 ? rows('drift_stats', statsStride) : null;

    const pipe = (shader: ShaderName, entry: string, constants: Record<string, number>) => ctx.pipeline(SHADERS[shader], entry, constants);
    const add = (label: string, pipeline: GPUComputePipeline, workgroups: number, buffers: () => (GPUBuffer | null)[], usesKvCache = false, driftPipeline?: GPUComputePipeline) =>
      this.dispatches.push({ label, pipeline, buffers, workgroups, bindGroup: null, usesKvCache, drift: driftPipeline && { pipeline: driftPipeline, bindGroup: null } });
    const groups = (n: number) => Math.ceil(n / WORKGROUP_SIZE);
    // Norm-type prologues (shaders/common.wgsl): the decode step runs them inside the consuming matvec, the chunk
    // path as kernels of their own (norm.wgsl); both bind the input at 6..8. A kind without gate binds a stub there.
    const rowPerThread = ctx.kernelFeatures.rowPerThread === true;
    const fuseNorms = ctx.kernelFeatures.fusedNorms !== false;
    const normScratch = activation('norm.scratch', Math.max(d, F) * 4); // f32 rows nobody reads (unfused norms)
    const unusedGate = activation('norm.no_gate', 16);
    const unusedNormOut = activation('norm.no_output', 16);
    const normConstants = (n: number, norm: NormInput): Record<string, number> => ({ NORM_KIND: norm.kind, NORM_N: n, NORM_EPS: eps, ...norm.constants });
    const normBuffers = (norm: NormInput) => [norm.src, norm.params, norm.gate ?? unusedGate];
    // A decode matvec whose input is `norm` of a row, normalised and quantised in its prologue; `normOut` also
    // receives the f32 normalised row.
    const normBitlinear = (label: string, w: PackedWeight, out: GPUBuffer, accumulate: boolean, norm: NormInput, normLabel: string, normOut?: GPUBuffer) => {
      if (!fuseNorms) {
        // The norm as a dispatch of its own (one invocation), then the plain matvec on its int8 row.
        add(normLabel, pipe('norm', normEntry, normConstants(w.cols, norm)), 1, () => [null, null, normOut ?? normScratch, xq, xscale, null, ...normBuffers(norm)]);
        const plan = matvecPlan(w.rows, w.cols, accumulate, ctx.kernelFeatures, ctx.maxWorkgroupBytes);
        add(label, ctx.pipeline(plan.shader, plan.entryPoint, plan.constants), plan.workgroups, () => [w.words, w.scales, xq, xscale, out]);
        return;
      }
      const plan = matvecPlan(w.rows, w.cols, accumulate, ctx.kernelFeatures, ctx.maxWorkgroupBytes, undefined, true);
      const constants = { ...plan.constants, ...normConstants(w.cols, norm), WRITE_NORM_OUT: normOut ? 1 : 0 };
      add(label, ctx.pipeline(plan.shader, plan.entryPoint, constants), plan.workgroups, () => [w.words, w.scales, null, null, out, null, ...normBuffers(norm), normOut ?? unusedNormOut]);
    };
    // norm.wgsl over rows: one invocation per row on CPU adapters, one workgroup per row elsewhere (same bits).
    const normEntry = rowPerThread ? 'norm_quant_rows_serial' : 'norm_quant_rows';

    // The chunk path: the same layers over the rows of a chunk (kernels *_rows beside the decode ones).
    // Chunk pipelines are named here and compiled by the first encodeChunk (ensureChunkPipelines): on SwiftShader
    // compiling is most of a load, and a model that only decodes (tests, the CLI) never needs them. The worker's
    // warm-up reads a chunk, so the app still compiles everything inside its load.
    const spec = (shader: ShaderName, entry: string, constants: Record<string, number>): PipelineSpec => ({ shader, entry, constants });
    const chunkAdd = (label: string, pipeline: PipelineSpec, grid: (n: number) => [number, number], buffers: () => (GPUBuffer | null)[], more: { usesKvCache?: boolean; drift?: boolean } = {}) =>
      this.chunkDispatches.push({ label: `chunk.${label}`, spec: pipeline, pipeline: null, grid, buffers, bindGroup: null, usesKvCache: more.usesKvCache ?? false, drift: more.drift });
    const tiles = (n: number) => Math.ceil(n / CHUNK_TILE);
    const chunkBitlinear = (label: string, w: PackedWeight, out: GPUBuffer, accumulate: boolean) =>
      chunkAdd(label, spec('bitlinear', 'bitlinear_rows', { IN: w.cols, OUT: w.rows, ACCUMULATE: accumulate ? 1 : 0, XQ_ROWS: paddedRows }), (n) => [groups(Math.ceil(w.rows / BITLINEAR_ROWS_PER_THREAD)), Math.ceil(n / BITLINEAR_TOKENS_PER_THREAD)], () => [w.words, w.scales, XQ, XSCALE, out, this.chunkInfo]);
    // CPU adapters: four rows per workgroup, one per SIMD lane (norm_quant_rows_lanes); GPUs: a workgroup per row.
    const CHUNK_NORM_LANES = 4;
    const chunkNormQuant = (label: string, n: number, norm: NormInput, dst: GPUBuffer, dstRows = 0) =>
      rowPerThread
        ? chunkAdd(label, spec('norm', 'norm_quant_rows_lanes', { ...normConstants(n, norm), XQ_ROWS: paddedRows, DST_ROWS: dstRows }), (count) => [Math.ceil(count / CHUNK_NORM_LANES), 1], () => [null, null, dst, XQ, XSCALE, this.chunkInfo, ...normBuffers(norm)])
        : chunkAdd(label, spec('norm', normEntry, { ...normConstants(n, norm), XQ_ROWS: paddedRows, DST_ROWS: dstRows }), (count) => [count, 1], () => [null, null, dst, XQ, XSCALE, null, ...normBuffers(norm)]);
    const tableConstants = { F16: this.embedTable.f16 ? 1 : 0, ROW_WORDS: this.embedTable.rowWords };
    chunkAdd('embed', spec('embedding', 'embed_rows', { D: d, V, ...tableConstants }), (n) => [groups(d), n], () => [this.chunkIds, this.embedTable.buffer, X]);

    this.embedPipeline = pipe('embedding', 'embed', { D: d, V, F16: this.embedTable.f16 ? 1 : 0, ROW_WORDS: this.embedTable.rowWords });

    this.mixers = [];
    c.mixers.forEach((kind, i) => {
      const p = `l${i}.`;
      const mixerNorm = weight(p + 'mixer_norm', floatData(model, p + 'mixer_norm'));
      const mixerNormInput: NormInput = { kind: NORM_RMS, src: this.x, params: mixerNorm };
      chunkNormQuant(p + 'mixer_norm', d, { ...mixerNormInput, src: X }, XN);
      if (kind === 'ttt') {
        const t = c.ttt;
        const inTensors = t.shareQK ? [ternary(model, p + 'ttt.wqk')] : [ternary(model, p + 'ttt.wq'), ternary(model, p + 'ttt.wk')];
        inTensors.push(ternary(model, p + 'ttt.wv'));
        if (t.gate) inTensors.push(ternary(model, p + 'ttt.wg'));
        const wIn = packed(p + 'ttt.in', inTensors);
        const wo = packed(p + 'ttt.wo', [ternary(model, p + 'ttt.wo')]);

        const input = tttInputLayout(d, t.shareQK, t.gate);
        if (input.rows !== wIn.rows) throw new GpuModelError(`ttt.in packs ${wIn.rows} rows, its layout says ${input.rows}`);
        // Float tensors of the layer packed into one buffer: fewer bindings per kernel.
        const tttSlot = tttLayers.indexOf(i);
        const packedParams = packTttParams((name) => (name.startsWith('ttt.conv_') && K === 0 ? new Float32Array(0) : floatData(model, p + name)), tttSlot * H * DRIFT_STATS_PER_HEAD);
        const layout = packedParams.layout;
        const params = weight(p + 'ttt.params', packedParams.data);
        const stateLayout = tttStateLayout(H, f, K, d);
        const state = this.own(ctx.createBuffer('ttt-state', p + 'ttt.state', stateLayout.total * 4, STORAGE));
        const layer: TttLayerGpu = {
          kind: 'ttt', index: i, tttSlot, params, paramLayout: layout, state, stateLayout,
          hostWInit: floatData(model, p + 'ttt.w_init').slice(), hostTokOffset: floatData(model, p + 'ttt.tok_offset').slice(),
        };
        this.mixers.push(layer);

        const constants: Record<string, number> = {
          D: d, H, B, K, EPS: eps, BASE_LR: t.baseLr, GATE: t.gate ? 1 : 0,
          ...tttOffsetConstants(input, layout, stateLayout),
        };
        const driftStats = this.driftStats!;
        // The TTT step reads the normalised input (its learning-rate gate): the fused matvec stores it in xn.
        normBitlinear(p + 'ttt.in', wIn, mixIn, false, mixerNormInput, p + 'mixer_norm', xn);
        const stepBuffers = () => [this.stepPosition, xn, mixIn, qk, params, state, heads, driftStats, this.memoryScale];
        add(p + 'ttt.step', pipe('ttt', 'ttt_step', { ...constants, DRIFT: 0 }), H, stepBuffers, false, pipe('ttt', 'ttt_step', { ...constants, DRIFT: 1 }));
        // ttt_post: LayerNorm over the concatenated heads, the optional gelu gate, quantisation for wo.
        const post = (src: GPUBuffer, gate: GPUBuffer, gateStride: number): NormInput => ({
          kind: NORM_LAYER, src, params, gate,
          constants: { NORM_GAIN_OFF: layout.postW, NORM_BIAS_OFF: layout.postB, NORM_GATED: t.gate ? 1 : 0, NORM_GATE_OFF: input.g, NORM_GATE_STRIDE: gateStride },
        });
        normBitlinear(p + 'ttt.wo', wo, this.x, true, post(heads, mixIn, 0), p + 'ttt.post');

        const rowConstants = { ...constants, UVG_STRIDE: wIn.rows, QK_STRIDE: 2 * d, STATS_STRIDE: statsStride };
        const chunkDrift = this.chunkDriftStats!;
        chunkBitlinear(p + 'ttt.in', wIn, MIX, false);
        chunkAdd(p + 'ttt.conv', spec('ttt', 'ttt_conv_rows', rowConstants), () => [groups(d), 1], () => [MIX, params, state, QK, this.chunkInfo]);
        // The mini-batch dual form; with drift its variant that also derives each token's stats (same outputs).
        const batchBuffers = () => [this.stepPosition, XN, MIX, QK, params, state, HEADS, this.memoryScale, this.chunkInfo];
        const batchDrift = spec('ttt', 'ttt_batch_rows_drift', { ...rowConstants, SEG: tttSegmentTokens(f) });
        chunkAdd(p + 'ttt.step', batchDrift, () => [H, 1], () => [...batchBuffers(), chunkDrift], { drift: true });
        const batchRows = spec('ttt', 'ttt_batch_rows', { ...rowConstants, SEG: tttSegmentTokens(f) });
        chunkAdd(p + 'ttt.step.no_drift', batchRows, () => [H, 1], batchBuffers, { drift: false });
        chunkNormQuant(p + 'ttt.post', d, post(HEADS, MIX, wIn.rows), MIXOUT);
        chunkBitlinear(p + 'ttt.wo', wo, X, true);
      } else {
        const inTensors = [ternary(model, p + 'attn.wq'), ternary(model, p + 'attn.wk'), ternary(model, p + 'attn.wv')];
        if (attn.gate) inTensors.push(ternary(model, p + 'attn.wg'));
        const wIn = packed(p + 'attn.in', inTensors); // q, k, v[, g] at 0, d, 2d[, 3d] of mixIn
        const wo = packed(p + 'attn.wo', [ternary(model, p + 'attn.wo')]);
        const subnorm = weight(p + 'attn.subnorm', floatData(model, p + 'attn.subnorm'));
        const slots = kind === 'swa' ? c.window : Math.min(this.kvInitialTokens, c.maxContext);
        const K = attn.convKernel;
        // K = 1 has no history; one float keeps the buffer bindable (WebGPU refuses empty bindings).
        const convHistory = K > 0 ? this.own(ctx.createBuffer('kv-cache', p + 'attn.conv_history', Math.max(3 * (K - 1) * d, 1) * 4, STORAGE)) : null;
        const layer: AttnLayerGpu = { kind, index: i, slots, cache: this.own(ctx.createBuffer('kv-cache', p + 'attn.kv', slots * 2 * d * 4, STORAGE)), convHistory };
        this.mixers.push(layer);
        const constants = { D: d, H, WINDOW: kind === 'swa' ? c.window : 0 };
        normBitlinear(p + 'attn.in', wIn, mixIn, false, mixerNormInput, p + 'mixer_norm');
        let convParams: GPUBuffer | null = null;
        let convConstants: Record<string, number> = {};
        if (convHistory) {
          // Kernels [3, d, K], histories [3, K−1, d] of q, k, v: the decode step's attend_step_conv and the chunk's
          // ttt_conv_rows (the TTT layers' conv with its third stream, v) share them.
          const kernels = new Float32Array(3 * d * K);
          ['conv_q', 'conv_k', 'conv_v'].forEach((name, s) => kernels.set(floatData(model, p + 'attn.' + name), s * d * K));
          convParams = weight(p + 'attn.conv', kernels);
          const hist = (K - 1) * d;
          convConstants = {
            D: d, K, CONV_V: 1, OFF_UQ: 0, OFF_UK: d, OFF_UV: 2 * d,
            OFF_CONV_Q: 0, OFF_CONV_K: d * K, OFF_CONV_V: 2 * d * K, OFF_HIST_Q: 0, OFF_HIST_K: hist, OFF_HIST_V: 2 * hist,
          };
        }
        // Decode: one dispatch per layer (a workgroup per head): [conv,] RoPE, append k/v, attend.
        if (convHistory && convParams) {
          const params = convParams;
          add(p + 'attn.attend', pipe('attention', 'attend_step_conv', { ...constants, CONV_K: K }), H, () => [this.stepPosition, mixIn, layer.cache, null, heads, ropeSteps!, params, convHistory], true);
        } else {
          add(p + 'attn.attend', pipe('attention', 'attend_step', constants), H, () => [this.stepPosition, mixIn, layer.cache, null, heads, ropeSteps!], true);
        }
        // The sub-norm, with the gate when there is one: o = RMSNorm(concat o_h) [⊙ gelu(g)], quantised for wo.
        const attnSubnorm = (src: GPUBuffer, gate: GPUBuffer, gateStride: number): NormInput =>
          attn.gate ? { kind: NORM_RMS_GATE, src, params: subnorm, gate, constants: { NORM_GATE_OFF: 3 * d, NORM_GATE_STRIDE: gateStride } } : { kind: NORM_RMS, src, params: subnorm };
        normBitlinear(p + 'attn.wo', wo, this.x, true, attnSubnorm(heads, mixIn, 0), p + (attn.gate ? 'attn.subnorm_gate' : 'attn.subnorm'));

        // Chunk: rotate every token's q, k and keep k, v in KV (the chunk's own rows); "attn": append, then attend
        // from the cache; "swa": gather the window before the chunk and the chunk's rows, attend from it, append.
        chunkBitlinear(p + 'attn.in', wIn, MIX, false);
        let qkvRows = MIX;
        let qkvStride = wIn.rows;
        if (convHistory && convParams) {
          const params = convParams;
          const convRows = spec('ttt', 'ttt_conv_rows', { ...convConstants, UVG_STRIDE: wIn.rows, QK_STRIDE: 3 * d });
          chunkAdd(p + 'attn.conv', convRows, () => [groups(d), 1], () => [MIX, params, convHistory, QK, this.chunkInfo]);
          qkvRows = QK;
          qkvStride = 3 * d;
        }
        const rowConstants = { ...constants, QKV_STRIDE: qkvStride };
        chunkAdd(p + 'attn.rope', spec('attention', 'rope_rows', rowConstants), (n) => [groups(d / 2), n], () => [this.stepPosition, ropeSteps!, qkvRows, KV!]);
        const append = () => chunkAdd(p + 'attn.append', spec('attention', 'append_rows', rowConstants), (n) => [groups(2 * d), n], () => [this.stepPosition, KV!, layer.cache, this.chunkInfo], { usesKvCache: true });
        // keys(): read when the bind group is (re)built, after the cache has grown.
        const attendRows = (keys: () => GPUBuffer, gathered: boolean) =>
          chunkAdd(p + 'attn.attend', spec('attention', 'attend_rows', { ...rowConstants, GATHERED: gathered ? 1 : 0 }), (n) => [H, Math.ceil(n / WORKGROUP_SIZE)], () => [this.stepPosition, qkvRows, keys(), null, HEADS, this.chunkInfo], { usesKvCache: true });
        if (kind === 'swa') {
          const window = WINDOW_KV!;
          chunkAdd(p + 'attn.window', spec('attention', 'window_rows', rowConstants), (n) => [groups(2 * d), c.window + n], () => [this.stepPosition, layer.cache, KV!, window, this.chunkInfo], { usesKvCache: true });
          attendRows(() => window, true);
          append();
        } else {
          append();
          attendRows(() => layer.cache, false);
        }
        chunkNormQuant(p + (attn.gate ? 'attn.subnorm_gate' : 'attn.subnorm'), d, attnSubnorm(HEADS, MIX, wIn.rows), MIXOUT);
        chunkBitlinear(p + 'attn.wo', wo, X, true);
      }
      const ffnNorm = weight(p + 'ffn_norm', floatData(model, p + 'ffn_norm'));
      const w13 = packed(p + 'ffn.w13', [ternary(model, p + 'ffn.w1'), ternary(model, p + 'ffn.w3')]);
      const w2 = packed(p + 'ffn.w2', [ternary(model, p + 'ffn.w2')]);
      const ffnSubnorm = weight(p + 'ffn.subnorm', floatData(model, p + 'ffn.subnorm'));
      // SwiGLU h = silu(a) ⊙ c over the rows [a | c] of w13's output, then the FFN sub-norm.
      const swiglu = (src: GPUBuffer): NormInput => ({ kind: NORM_SWIGLU, src, params: ffnSubnorm, constants: { NORM_SRC_STRIDE: 2 * F } });
      normBitlinear(p + 'ffn.w13', w13, ac, false, { kind: NORM_RMS, src: this.x, params: ffnNorm }, p + 'ffn_norm');
      normBitlinear(p + 'ffn.w2', w2, this.x, true, swiglu(ac), p + 'ffn.swiglu');

      chunkNormQuant(p + 'ffn_norm', d, { kind: NORM_RMS, src: X, params: ffnNorm }, XN);
      chunkBitlinear(p + 'ffn.w13', w13, AC, false);
      chunkNormQuant(p + 'ffn.swiglu', F, swiglu(AC), HIDDEN);
      chunkBitlinear(p + 'ffn.w2', w2, X, true);
    });
    // The final norm (f32 output for the float LM head; its int8 output goes unused), then the LM head, which as the
    // step's last kernel also advances the position.
    add('final_norm', pipe('norm', normEntry, normConstants(d, { kind: NORM_RMS, src: this.x, params: finalNorm })), 1, () => [null, null, xn, xq, xscale, null, this.x, finalNorm, unusedGate]);
    const headConstants = { D: d, V, F16: headTable.f16 ? 1 : 0, ROW_WORDS: headTable.rowWords };
    const headGroups = groups(Math.ceil(V / HEAD_ROWS_PER_THREAD));
    add('lm_head', pipe('head', 'lm_head', { ...headConstants, ADVANCE: 1 }), headGroups, () => [headTable.buffer, xn, this.logits, this.stepPosition]);
    const lastHead = pipe('head', 'lm_head', { ...headConstants, ADVANCE: 0 });
    this.headDispatches = [this.dispatches[this.dispatches.length - 2], { label: 'lm_head', pipeline: lastHead, buffers: () => [headTable.buffer, xn, this.logits, this.stepPosition], bindGroup: null, workgroups: headGroups, usesKvCache: false }];

    const chunkLayers = this.chunkDispatches.length;
    chunkNormQuant('final_norm', d, { kind: NORM_RMS, src: X, params: finalNorm }, XNT, paddedRows);
    const lmHeadRows = spec('head', 'lm_head_rows', { D: d, V, F16: headTable.f16 ? 1 : 0, ROW_WORDS: headTable.rowWords, XN_ROWS: paddedRows });
    chunkAdd('lm_head', lmHeadRows, (n) => [groups(Math.ceil(V / HEAD_ROWS_PER_THREAD)), tiles(n)], () => [headTable.buffer, XNT, this.chunkLogits, this.chunkInfo]);
    chunkAdd('advance_position', spec('head', 'advance_position_by', {}), () => [1, 1], () => [this.stepPosition, this.chunkInfo]);
    this.chunkAdvance = this.chunkDispatches.pop()!;
    this.chunkHeadDispatches = this.chunkDispatches.splice(chunkLayers);
    this.rebuildBindGroups(false);
  }

  /** Uploads `model` and compiles its pipelines; the state starts reset (position 0). */
  static async create(ctx: GpuContext, model: ModelFile, opts: GpuModelOptions = {}): Promise<GpuModel> {
    const owned = new Set<GPUBuffer>();
    let gpuModel: GpuModel | null = null;
    ctx.device.pushErrorScope('validation');
    try {
      gpuModel = new GpuModel(ctx, model, opts, owned);
      gpuModel.reset();
    } finally {
      // Popped on every path: a scope left open would swallow the errors of whatever runs next on the device.
      const error = await ctx.device.popErrorScope().catch(() => null);
      if (error || !gpuModel) {
        for (const b of owned) ctx.destroyBuffer(b);
        owned.clear();
      }
      if (error && gpuModel) throw new GpuModelError(`GPU validation failed while loading the model: ${error.message}`);
    }
    return gpuModel!; // non-null: had the constructor thrown, its error would have left through the finally block
  }

  /** Tokens read since the last reset: the position of the next token. */
  get position(): number {
    return this.pos;
  }

  /** Whether the TTT layers learn as they read (see setMemory). */
  get memoryOn(): boolean {
    return this.memory;
  }

  /**
   * Memory off (docs/DIAGNOSTICS.md): every TTT layer's inner learning rate times 0 from the next token on, so
   * the state stays where it is (at w_init after a reset); conv, gate, attention and FFN run unchanged. A
   * setting of the model, kept across reset(); refused for a model without TTT layers.
   */
  setMemory(on: boolean): void {
    this.assertAlive();
    if (this.tttLayers.length === 0) throw new GpuModelError('this model has no TTT layer, so it has no test-time memory to switch off');
    this.ctx.device.queue.writeBuffer(this.memoryScale, 0, new Float32Array([on ? 1 : 0, 0, 0, 0]));
    this.memory = on;
  }

  /**
   * The buffers each dispatch of one token step binds, in order (the embedding first, as one row of its table:
   * it reads the row of the token only). The bench sums their sizes into the bytes a decode step reads.
   */
  bindingsPerToken(): { label: string; buffers: { label: string; size: number }[] }[] {
    this.assertAlive();
    const embed = { label: 'embed', buffers: [{ label: this.embedTable.buffer.label, size: this.embedTable.rowWords * 4 }, { label: 'token id', size: 4 }] };
    return [embed, ...this.dispatches.map((dispatch) => ({ label: dispatch.label, buffers: dispatch.buffers().flatMap((b) => (b ? [{ label: b.label, size: b.size }] : [])) }))];
  }

  /** Number of compute dispatches in one token step. */
  get dispatchesPerToken(): number {
    return this.dispatches.length + 1;
  }

  /**
   * Makes room for the token at `nextPosition` (doubles the "attn" KV caches when full, model/kv-cache.ts). Runs its
   * own copy submission, so call it (or let encodeStep call it) before recording the step that needs the room.
   * Throws ContextOverflowError past maxContext on "attn" layers, before anything is encoded.
   */
  prepare(nextPosition: number): void {
    this.assertAlive();
    const c = this.config;
    const attnLayers = this.mixers.filter((m): m is AttnLayerGpu => m.kind === 'attn');
    if (attnLayers.length === 0) return;
    if (nextPosition >= c.maxContext) throw new ContextOverflowError(nextPosition + 1, c.maxContext);
    const needed = nextPosition + 1;
    if (attnLayers.every((l) => l.slots >= needed)) return;
    this.resizeKvCaches(attnLayers, grownKvSlots(attnLayers[0].slots, needed, c.maxContext), true);
  }

  private resizeKvCaches(layers: AttnLayerGpu[], slots: number, keepContents: boolean): void {
    const d = this.config.dModel;
    const encoder = this.ctx.device.createCommandEncoder({ label: 'kv-cache resize' });
    const retired: GPUBuffer[] = [];
    for (const layer of layers) {
      if (layer.slots === slots) continue;
      const cache = this.own(this.ctx.createBuffer('kv-cache', `l${layer.index}.attn.kv`, slots * 2 * d * 4, storageUsage()));
      if (keepContents) encoder.copyBufferToBuffer(layer.cache, 0, cache, 0, Math.min(layer.slots, slots) * 2 * d * 4);
      retired.push(layer.cache);
      layer.cache = cache;
      layer.slots = slots;
    }
    this.ctx.device.queue.submit([encoder.finish()]);
    // Destroying after submit is safe: WebGPU frees the memory once the submitted copies have run.
    for (const b of retired) this.release(b);
    this.rebuildBindGroups(true);
  }

  /**
   * Records one token step into `encoder`: reads the u32 token id at offset 0 of `tokenBuffer` (STORAGE usage),
   * runs every layer and writes `logits` (and `driftStats` with `{ drift: true }`). Submit the encoder before
   * recording the next step, unless prepare() was called for the last position of a batch of steps.
   */
  encodeStep(encoder: GPUCommandEncoder, tokenBuffer: GPUBuffer, opts: StepOptions = {}): void {
    this.assertAlive();
    this.prepare(this.pos);
    let embedBindGroup = this.embedBindGroups.get(tokenBuffer);
    if (!embedBindGroup) {
      embedBindGroup = this.bindGroup(this.embedPipeline, [tokenBuffer, this.embedTable.buffer, this.x], 'embed');
      this.embedBindGroups.set(tokenBuffer, embedBindGroup);
    }
    const pass = new PassRecorder(encoder, `token step ${this.pos}`, opts.timer);
    pass.dispatch('embed', this.embedPipeline, embedBindGroup, Math.ceil(this.config.dModel / WORKGROUP_SIZE));
    const drift = opts.drift ?? false;
    for (const dispatch of this.dispatches) {
      const variant = drift && dispatch.drift ? dispatch.drift : dispatch;
      pass.dispatch(dispatch.label, variant.pipeline, variant.bindGroup!, dispatch.workgroups);
    }
    pass.end();
    this.pos++;
    this.driftCurrent = drift;
  }

  /**
   * Records the reading of `ids` (1..maxChunkTokens tokens) into `encoder`: every layer over the whole chunk, the
   * position advanced by ids.length, the logits asked for by `opts.logits`. Each token's result equals what
   * ids.length encodeStep calls would give (same per-token arithmetic; see docs/ARCHITECTURE.md). Uploads the ids
   * with queue.writeBuffer, so submit the encoder before the next encodeChunk call. Throws ContextOverflowError
   * before encoding anything when the chunk does not fit in an "attn" layer's maxContext.
   */
  encodeChunk(encoder: GPUCommandEncoder, ids: ArrayLike<number>, opts: ChunkOptions = {}): void {
    this.assertAlive();
    const count = ids.length;
    if (!Number.isInteger(count) || count < 1 || count > this.maxChunkTokens) {
      throw new GpuModelError(`a chunk holds 1 to ${this.maxChunkTokens} tokens, got ${count}`);
    }
    const V = this.config.vocabSize;
    const words = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new GpuModelError(`token id ${id} (chunk index ${i}) is outside the vocabulary [0, ${V})`);
      words[i] = id;
    }
    const logits = opts.logits ?? 'last';
    const drift = (opts.drift ?? false) && this.chunkDriftStats !== null;
    this.prepare(this.pos + count - 1);
    const { queue } = this.ctx.device;
    queue.writeBuffer(this.chunkIds, 0, words);
    queue.writeBuffer(this.chunkInfo, 0, new Uint32Array([count, 0, 0, 0]));
    if (logits === 'all') encoder.copyBufferToBuffer(this.logits, 0, this.previousLogits, 0, V * 4);

    this.ensureChunkPipelines();
    const record = (pass: PassRecorder, dispatch: ChunkDispatch) => pass.dispatch(dispatch.label, dispatch.pipeline!, dispatch.bindGroup!, ...dispatch.grid(count));
    const pass = new PassRecorder(encoder, `chunk of ${count} at ${this.pos}`, opts.timer);
    for (const dispatch of this.chunkDispatches) {
      if (dispatch.drift === undefined || dispatch.drift === drift) record(pass, dispatch);
    }
    if (logits === 'all') for (const dispatch of this.chunkHeadDispatches) record(pass, dispatch);
    record(pass, this.chunkAdvance);
    pass.end();

    const d = this.config.dModel;
    if (logits === 'all') encoder.copyBufferToBuffer(this.chunkLogits, (count - 1) * V * 4, this.logits, 0, V * 4);
    if (logits === 'last') {
      // The decode step's own final norm and LM head on a copy of the last row: the logits the sampler reads.
      encoder.copyBufferToBuffer(this.chunkX, (count - 1) * d * 4, this.x, 0, d * 4);
      const head = new PassRecorder(encoder, 'chunk lm_head (last token)', opts.timer);
      for (const dispatch of this.headDispatches) head.dispatch(`chunk.last.${dispatch.label}`, dispatch.pipeline, dispatch.bindGroup!, dispatch.workgroups);
      head.end();
    }
    if (drift && this.driftStats) {
      const bytes = this.driftStats.size;
      encoder.copyBufferToBuffer(this.chunkDriftStats!, (count - 1) * bytes, this.driftStats, 0, bytes);
    }
    this.pos += count;
    this.driftCurrent = drift;
  }

  /** Test/CLI helper: writes `token`, records and submits one step, reads the logits back. */
  async step(token: number, opts: StepOptions = {}): Promise<Float32Array> {
    this.assertAlive();
    if (!Number.isInteger(token) || token < 0 || token >= this.config.vocabSize) {
      throw new GpuModelError(`token id ${token} is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
    this.ctx.device.queue.writeBuffer(this.hostToken, 0, new Uint32Array([token]));
    const encoder = this.ctx.device.createCommandEncoder({ label: 'step' });
    this.encodeStep(encoder, this.hostToken, opts);
    encoder.copyBufferToBuffer(this.logits, 0, this.logitsReadback, 0, this.config.vocabSize * 4);
    this.ctx.device.queue.submit([encoder.finish()]);
    await this.logitsReadback.mapAsync(GPUMapMode.READ);
    const logits = new Float32Array(this.logitsReadback.getMappedRange().slice(0));
    this.logitsReadback.unmap();
    return logits;
  }

  /**
   * Reads driftStats back as one entry per TTT layer (empty for models without TTT layers): the stats after the
   * last step, which must have run with { drift: true } (or none since reset/restoreState).
   */
  async readDrift(): Promise<LayerDrift[]> {
    this.assertAlive();
    if (!this.driftStats) return [];
    if (!this.driftCurrent) throw new GpuModelError('the last step ran without drift stats: encode it with { drift: true } to read them');
    const [raw] = await this.staging.read([{ buffer: this.driftStats }]);
    return parseDriftStats(new Float32Array(raw), this.tttLayers, this.config.nHeads);
  }

  /**
   * W̄ − w_init of one TTT head after the last step: f×f, row-major, rows index k's dimensions (the drift view's
   * heatmap). W̄ is rebuilt from the state as W0 − tok_i·GW (i: the last token's index in its mini-batch), the same
   * expression ttt_step uses; reads one head's W0 and GW (one submit), not the whole state; w_init and tok_offset
   * are constant and kept on the host.
   */
  async tttMatrixDelta(layer: number, head: number): Promise<Float32Array> {
    this.assertAlive();
    const m = this.mixers.find((x): x is TttLayerGpu => x.kind === 'ttt' && x.index === layer);
    if (!m) throw new GpuModelError(`layer ${layer} is not a TTT layer (TTT layers: ${this.tttLayers.join(', ') || 'none'})`);
    const H = this.config.nHeads;
    if (!Number.isInteger(head) || head < 0 || head >= H) throw new GpuModelError(`head ${head} is outside 0..${H - 1}`);
    const f = headSize(this.config);
    const B = this.config.ttt.miniBatch;
    const bytes = f * f * 4;
    const mat = head * f * f;
    const [w0, gw] = await this.staging.read([
      { buffer: m.state, offset: (m.stateLayout.W0 + mat) * 4, size: bytes },
      { buffer: m.state, offset: (m.stateLayout.GW + mat) * 4, size: bytes },
    ]);
    const W0 = new Float32Array(w0);
    const GW = new Float32Array(gw);
    const init = m.hostWInit.subarray(mat, mat + f * f);
    // After the last token of a mini-batch GW is zero and W0 already holds W̄; at position 0 W0 = w_init.
    const i = this.pos === 0 ? 0 : (this.pos - 1) % B;
    const tok = Math.max(1 / (i + 1) + m.hostTokOffset[i], 0);
    const out = new Float32Array(f * f);
    for (let e = 0; e < out.length; e++) out[e] = Math.fround(W0[e] - Math.fround(tok * GW[e])) - init[e];
    return out;
  }

  /** Forget everything read: W0 ← w_init, b0 ← b_init, accumulators and histories zero, KV caches emptied, position 0. */
  reset(): void {
    this.assertAlive();
    const d = this.config.dModel;
    const attnLayers = this.mixers.filter((m): m is AttnLayerGpu => m.kind === 'attn');
    const initialSlots = Math.min(this.kvInitialTokens, this.config.maxContext);
    if (attnLayers.some((l) => l.slots !== initialSlots)) this.resizeKvCaches(attnLayers, initialSlots, false);
    const encoder = this.ctx.device.createCommandEncoder({ label: 'reset' });
    for (const m of this.mixers) {
      if (m.kind === 'ttt') {
        const s = m.stateLayout;
        const pl = m.paramLayout;
        encoder.clearBuffer(m.state);
        encoder.copyBufferToBuffer(m.params, pl.wInit * 4, m.state, s.W0 * 4, (s.GW - s.W0) * 4);
        encoder.copyBufferToBuffer(m.params, pl.bInit * 4, m.state, s.b0 * 4, (s.Gb - s.b0) * 4);
      } else {
        // Not needed for correctness (attend reads only written slots) but keeps stale keys out of memory dumps.
        encoder.clearBuffer(m.cache, 0, m.slots * 2 * d * 4);
        if (m.convHistory) encoder.clearBuffer(m.convHistory); // needed: the conv reads K−1 earlier inputs, zeros after a reset
      }
    }
    if (this.driftStats) {
      // Before the first token W̄ = W0 = w_init: norm 0, cos 1, losses 0, w0Norm 0 (as the reference reports).
      const H = this.config.nHeads;
      const initial = new Float32Array(this.tttLayers.length * H * DRIFT_STATS_PER_HEAD);
      for (let i = 1; i < initial.length; i += DRIFT_STATS_PER_HEAD) initial[i] = 1;
      this.ctx.device.queue.writeBuffer(this.driftStats, 0, initial);
    }
    encoder.clearBuffer(this.stepPosition);
    this.ctx.device.queue.submit([encoder.finish()]);
    this.pos = 0;
    this.driftCurrent = true;
  }

  /** Exact bytes of the context's live GPU buffers per tag, the position, and the KV cache allocated vs in use. */
  memoryReport(): MemoryReport {
    const r = this.ctx.memoryReport();
    const slotBytes = 2 * this.config.dModel * 4;
    let inUse = 0;
    for (const m of this.mixers) {
      if (m.kind === 'ttt') continue;
      inUse += Math.min(this.pos, m.slots) * slotBytes + (m.convHistory?.size ?? 0);
    }
    return { bytes: r.bytes, total: r.total, buffers: r.buffers, position: this.pos, kvCache: { allocated: r.bytes['kv-cache'], inUse } };
  }

  /**
   * The reading state as bytes: the position, then every TTT state, KV cache and the drift stats, each with its
   * size (KV caches with their slot count). For snapshots and "regenerate"; Session.saveState wraps it.
   */
  async saveState(): Promise<ArrayBuffer> {
    this.assertAlive();
    const buffers = this.stateBuffers();
    const header = new Uint32Array([this.pos, buffers.length, ...this.mixers.map((m) => (m.kind === 'ttt' ? 0 : m.slots)), ...buffers.map((b) => b.size)]);
    const parts = [header.buffer, ...(await this.staging.read(buffers.map((buffer) => ({ buffer }))))];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(new Uint8Array(p), at);
      at += p.byteLength;
    }
    return out.buffer;
  }

  /** Puts back a state from saveState() of a model with this config; throws GpuModelError if it does not fit. */
  restoreState(data: ArrayBuffer): void {
    this.assertAlive();
    const words = new Uint32Array(data, 0, Math.floor(Math.min(data.byteLength, 4 * (2 + this.mixers.length)) / 4));
    const bad = (why: string) => new GpuModelError(`this state does not fit this model: ${why}`);
    if (words.length < 2 + this.mixers.length) throw bad('it is truncated');
    const slots = Array.from(words.subarray(2, 2 + this.mixers.length));
    const attnLayers = this.mixers.filter((m): m is AttnLayerGpu => m.kind === 'attn');
    const attnSlots = this.mixers.flatMap((m, i) => (m.kind === 'attn' ? [slots[i]] : []));
    if (attnSlots.some((n) => n !== attnSlots[0] || n < 1 || n > this.config.maxContext)) throw bad('bad KV cache sizes');
    if (attnLayers.length > 0 && attnLayers[0].slots !== attnSlots[0]) this.resizeKvCaches(attnLayers, attnSlots[0], false);
    const buffers = this.stateBuffers();
    if (words[1] !== buffers.length) throw bad(`it has ${words[1]} buffers, this model ${buffers.length}`);
    const headerBytes = 4 * (2 + this.mixers.length + buffers.length);
    if (data.byteLength < headerBytes) throw bad('it is truncated');
    const sizes = new Uint32Array(data, 4 * (2 + this.mixers.length), buffers.length);
    if (buffers.some((b, i) => b.size !== sizes[i])) throw bad('buffer sizes differ (another model?)');
    if (data.byteLength !== headerBytes + buffers.reduce((n, b) => n + b.size, 0)) throw bad('its length is wrong');
    let at = headerBytes;
    for (const b of buffers) {
      this.ctx.device.queue.writeBuffer(b, 0, data, at, b.size);
      at += b.size;
    }
    this.pos = words[0];
    this.driftCurrent = true; // the saved stats come back with the state (as current as they were when saved)
  }

  private stateBuffers(): GPUBuffer[] {
    const mixerState = (m: MixerGpu) => (m.kind === 'ttt' ? [m.state] : m.convHistory ? [m.cache, m.convHistory] : [m.cache]);
    const buffers = [this.stepPosition, ...this.mixers.flatMap(mixerState)];
    if (this.driftStats) buffers.push(this.driftStats);
    return buffers;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.owned) this.ctx.destroyBuffer(b);
    this.owned.clear();
    this.staging.destroy();
  }

  private own(buffer: GPUBuffer): GPUBuffer {
    this.owned.add(buffer);
    return buffer;
  }

  private release(buffer: GPUBuffer): void {
    this.owned.delete(buffer);
    this.ctx.destroyBuffer(buffer);
  }

  private bindGroup(pipeline: GPUComputePipeline, buffers: (GPUBuffer | null)[], label: string): GPUBindGroup {
    return this.ctx.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
    });
  }

  private rebuildBindGroups(onlyKvCache: boolean): void {
    for (const dispatch of this.dispatches) {
      if (onlyKvCache && !dispatch.usesKvCache) continue;
      dispatch.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.buffers(), dispatch.label);
      if (dispatch.drift) dispatch.drift.bindGroup = this.bindGroup(dispatch.drift.pipeline, dispatch.buffers(), `${dispatch.label} (drift)`);
    }
    const last = this.headDispatches[1];
    if (!onlyKvCache) last.bindGroup = this.bindGroup(last.pipeline, last.buffers(), last.label);
    for (const dispatch of this.allChunkDispatches()) {
      if (dispatch.pipeline === null || (onlyKvCache && !dispatch.usesKvCache)) continue;
      dispatch.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.buffers(), dispatch.label);
    }
  }

  private allChunkDispatches(): ChunkDispatch[] {
    return [...this.chunkDispatches, ...this.chunkHeadDispatches, this.chunkAdvance];
  }

  /** Compiles the chunk path's pipelines and binds them, once (the first encodeChunk). */
  private ensureChunkPipelines(): void {
    for (const dispatch of this.allChunkDispatches()) {
      if (dispatch.pipeline !== null) continue;
      dispatch.pipeline = this.ctx.pipeline(SHADERS[dispatch.spec.shader], dispatch.spec.entry, dispatch.spec.constants);
      dispatch.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.buffers(), dispatch.label);
    }
  }

  private assertAlive(): void {
    if (this.destroyed) throw new GpuModelError('this GpuModel was destroyed');
  }
}
