// What every layer module builds with: the model file's tensors, buffer allocation (owned by the model, which frees
// them), the shared activations, the dispatch cache, and the two shapes of BitLinear with its input norm: the decode
// step's (the norm in the matvec's prologue, or as a one-invocation dispatch on CPU adapters) and the chunk path's
// (a norm kernel over the rows, then the matrix product). Both compute the norm with common.wgsl's norm prologue,
// in one canonical order, so the two paths give the same bits.
import type { MemoryTag } from '../../types';
import type { GpuContext } from '../context';
import type { ModelConfig, ModelFile, TernaryTensor } from '../../types';
import { matvecPlan } from '../bitlinear';
import { packTernaryMatvec } from '../pack';
import { KERNEL_CONSTANTS, WORKGROUP_SIZE } from '../shaders';
import { GpuModelError } from '../model-check';
import type { ChunkActivations, StepActivations } from './activations';
import type { ChunkDispatch, DispatchCache, StepDispatch } from './dispatch';

const { BITLINEAR_TOKENS_PER_THREAD, BITLINEAR_ROWS_PER_THREAD, BITLINEAR_PAIRS_ROWS_PER_THREAD, BITLINEAR_PAIRS_WORKGROUP_SIZE, NORM_ROWS_PER_WORKGROUP } = KERNEL_CONSTANTS;

// Read lazily: under Node the `webgpu` package installs GPUBufferUsage on globalThis after this module loads.
export const storageUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** Workgroups of WORKGROUP_SIZE that cover n invocations. */
export const groups = (n: number) => Math.ceil(n / WORKGROUP_SIZE);

/** A ternary matrix in the matvec layout (several tensors that share an input, concatenated by rows). */
export interface PackedWeight {
  words: GPUBuffer;
  scales: GPUBuffer;
  rows: number;
  cols: number;
}

/** NORM_KIND of shaders/common.wgsl's norm prologue. */
export const NORM_RMS = 1;
export const NORM_RMS_GATE = 2;
export const NORM_SWIGLU = 3;
export const NORM_LAYER = 4;

/** The input of a norm prologue: its kind, rows at @binding(6), gains (and biases) at 7, gate rows at 8. */
export interface NormInput {
  kind: number;
  src: GPUBuffer;
  params: GPUBuffer;
  gate?: GPUBuffer;
  /** NORM_* override constants of the kind (offsets, strides, NORM_GATED). */
  constants?: Record<string, number>;
}

export class LayerBuilder {
  readonly config: ModelConfig;
  /** norm.wgsl over rows: one invocation per row on CPU adapters, one workgroup per row elsewhere (same bits). */
  readonly normEntry: string;
  /** The decode step's per-head kernels run on few invocations per head (KernelFeatures.fewHeadThreads). */
  readonly fewHeadThreads: boolean;
  private readonly rowPerThread: boolean;
  private readonly fuseNorms: boolean;
  private readonly shared = new Map<string, GPUBuffer>();
  /** The buffers of the layer being built (startLayer); null while building what is the model's (the embedding). */
  private layerBuffers: Set<GPUBuffer> | null = null;
  /** Null after done(): the dispatches' closures keep the builder, and must not keep the file's tensors. */
  private model: ModelFile | null;

  constructor(
    readonly ctx: GpuContext,
    model: ModelFile,
    readonly kernels: DispatchCache,
    readonly step: StepActivations,
    readonly chunk: ChunkActivations,
    private readonly own: (buffer: GPUBuffer) => GPUBuffer,
  ) {
    this.model = model;
    this.config = model.config;
    this.rowPerThread = ctx.kernelFeatures.rowPerThread === true;
    this.fuseNorms = ctx.kernelFeatures.fusedNorms !== false;
    this.normEntry = this.rowPerThread ? 'norm_quant_rows_serial' : 'norm_quant_rows';
    this.fewHeadThreads = ctx.kernelFeatures.fewHeadThreads === true;
  }

  /** From here until the next call, the buffers made through this builder belong to a new layer: its set. */
  startLayer(): Set<GPUBuffer> {
    return (this.layerBuffers = new Set());
  }

  private keep(buffer: GPUBuffer): GPUBuffer {
    this.layerBuffers?.add(buffer);
    return this.own(buffer);
  }

  /** The model is built: the file's tensors are no longer needed (a load's largest host allocation). */
  done(): void {
    this.model = null;
  }

  private tensor(name: string) {
    if (!this.model) throw new GpuModelError('the layers are built: the model file is gone');
    return this.model.tensors.get(name);
  }

  floats(name: string): Float32Array {
    const t = this.tensor(name);
    if (!t || t.kind !== 'float') throw new GpuModelError(`tensor ${name} is missing or not a float tensor`);
    return t.data;
  }

  ternary(name: string): TernaryTensor {
    const t = this.tensor(name);
    if (!t || t.kind !== 'ternary') throw new GpuModelError(`tensor ${name} is missing or not a ternary tensor`);
    return t;
  }

  weight(label: string, data: ArrayBufferView): GPUBuffer {
    return this.keep(this.ctx.createBufferWithData('weights', label, data, storageUsage()));
  }

  /** The float tensor `name` as a weight buffer of the same name. */
  floatWeight(name: string): GPUBuffer {
    return this.weight(name, this.floats(name));
  }

  /** The ternary tensors `names` concatenated by rows in the matvec layout. */
  packed(label: string, names: string[]): PackedWeight {
    const p = packTernaryMatvec(names.map((n) => this.ternary(n)));
    return { words: this.weight(`${label}.packed`, p.words), scales: this.weight(`${label}.row_scales`, p.rowScales), rows: p.rows, cols: p.cols };
  }

  /** A storage buffer of state (a TTT state, a KV cache), zeroed. */
  buffer(tag: MemoryTag, label: string, bytes: number): GPUBuffer {
    return this.keep(this.ctx.createBuffer(tag, label, bytes, storageUsage()));
  }

  /** buffer() for later use (a KV cache that grows), without holding on to the builder. */
  allocator(tag: MemoryTag): (label: string, bytes: number) => GPUBuffer {
    const { ctx, own, layerBuffers } = this;
    return (label, bytes) => {
      const buffer = own(ctx.createBuffer(tag, label, bytes, storageUsage()));
      layerBuffers?.add(buffer);
      return buffer;
    };
  }

  /** One buffer per `key` for the whole model (e.g. the RoPE phase steps every attention layer reads); counted in
   * the memory of the layer that made it first. */
  once(key: string, make: () => GPUBuffer): GPUBuffer {
    let buffer = this.shared.get(key);
    if (!buffer) this.shared.set(key, (buffer = make()));
    return buffer;
  }

  /**
   * A mixer's input norm, RMSNorm(x) with `l{i}.mixer_norm`: the decode step's NormInput (the mixer fuses it into
   * its first matvec) and the chunk path's norm kernel into chunk.xn (the mixer's first dispatch).
   */
  mixerNorm(prefix: string): { step: NormInput; chunk: ChunkDispatch } {
    const params = this.floatWeight(prefix + 'mixer_norm');
    const step: NormInput = { kind: NORM_RMS, src: this.step.x, params };
    return { step, chunk: this.chunkNormQuant(prefix + 'mixer_norm', this.config.dModel, { ...step, src: this.chunk.x }, this.chunk.xn) };
  }

  normConstants(n: number, norm: NormInput): Record<string, number> {
    return { NORM_KIND: norm.kind, NORM_N: n, NORM_EPS: this.config.normEps, ...norm.constants };
  }

  /** @binding(6..8) of a norm: its rows, its parameters, its gate rows (a stub when the kind has none). */
  normBuffers(norm: NormInput): GPUBuffer[] {
    return [norm.src, norm.params, norm.gate ?? this.step.unusedGate];
  }

  /**
   * The decode step's `out (+)= w · quantise(norm(row))`: one dispatch whose prologue normalises and quantises the
   * row (GPUs), or the norm as a one-invocation dispatch then the plain matvec (CPU adapters, where that measured
   * faster). `normOut` also receives the f32 normalised row.
   */
  stepNormBitlinear(label: string, w: PackedWeight, out: GPUBuffer, accumulate: boolean, norm: NormInput, normLabel: string, normOut?: GPUBuffer): StepDispatch[] {
    const { ctx, kernels, step } = this;
    if (!this.fuseNorms) {
      const normDispatch = kernels.step(normLabel, kernels.pipeline('norm', this.normEntry, this.normConstants(w.cols, norm)), 1, () => [null, null, normOut ?? step.normScratch, step.xq, step.xscale, null, ...this.normBuffers(norm)]);
      const plan = matvecPlan(w.rows, w.cols, accumulate, ctx.kernelFeatures, ctx.maxWorkgroupBytes);
      return [normDispatch, kernels.step(label, ctx.pipeline(plan.shader, plan.entryPoint, plan.constants), plan.workgroups, () => [w.words, w.scales, step.xq, step.xscale, out])];
    }
    const plan = matvecPlan(w.rows, w.cols, accumulate, ctx.kernelFeatures, ctx.maxWorkgroupBytes, undefined, true);
    const constants = { ...plan.constants, ...this.normConstants(w.cols, norm), WRITE_NORM_OUT: normOut ? 1 : 0 };
    return [kernels.step(label, ctx.pipeline(plan.shader, plan.entryPoint, constants), plan.workgroups, () => [w.words, w.scales, null, null, out, null, ...this.normBuffers(norm), normOut ?? step.unusedNormOut])];
  }

  /**
   * The chunk path's `out (+)= w · xq` over the rows of a chunk (int8 rows from chunkNormQuant): bitlinear_rows on
   * GPUs, bitlinear_rows_pairs (two columns per i32 multiply, 64 rows per invocation, workgroups of 4) on CPU
   * adapters, where it measured 2.7-4x faster; both give the decode path's outputs bit for bit.
   */
  chunkBitlinear(label: string, w: PackedWeight, out: GPUBuffer, accumulate: boolean): ChunkDispatch {
    const c = this.chunk;
    const constants = { IN: w.cols, OUT: w.rows, ACCUMULATE: accumulate ? 1 : 0, XQ_ROWS: c.paddedRows };
    const buffers = () => [w.words, w.scales, c.xq, c.xscale, out, c.info];
    if (this.rowPerThread) {
      const workgroups = Math.ceil(Math.ceil(w.rows / BITLINEAR_PAIRS_ROWS_PER_THREAD) / BITLINEAR_PAIRS_WORKGROUP_SIZE);
      return this.kernels.chunk(label, { shader: 'bitlinear', entry: 'bitlinear_rows_pairs', constants }, (n) => [workgroups, Math.ceil(n / BITLINEAR_TOKENS_PER_THREAD)], buffers);
    }
    return this.kernels.chunk(label, { shader: 'bitlinear', entry: 'bitlinear_rows', constants }, (n) => [groups(Math.ceil(w.rows / BITLINEAR_ROWS_PER_THREAD)), Math.ceil(n / BITLINEAR_TOKENS_PER_THREAD)], buffers);
  }

  /**
   * The chunk path's norm of every row into `dst` (f32) and the int8 rows xq, xscale: CPU adapters, a few rows per
   * workgroup, one per SIMD lane (norm_quant_rows_lanes); GPUs, a workgroup per row. `dstRows`: dst column-major.
   */
  chunkNormQuant(label: string, n: number, norm: NormInput, dst: GPUBuffer, dstRows = 0): ChunkDispatch {
    const c = this.chunk;
    const constants = { ...this.normConstants(n, norm), XQ_ROWS: c.paddedRows, DST_ROWS: dstRows };
    if (this.rowPerThread) {
      return this.kernels.chunk(label, { shader: 'norm', entry: 'norm_quant_rows_lanes', constants }, (count) => [Math.ceil(count / NORM_ROWS_PER_WORKGROUP), 1], () => [null, null, dst, c.xq, c.xscale, c.info, ...this.normBuffers(norm)]);
    }
    return this.kernels.chunk(label, { shader: 'norm', entry: this.normEntry, constants }, (count) => [count, 1], () => [null, null, dst, c.xq, c.xscale, null, ...this.normBuffers(norm)]);
  }
}
