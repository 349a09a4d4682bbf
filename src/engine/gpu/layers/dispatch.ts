// The model's dispatches, and the one cache of their pipelines and bind groups. Every layer module describes its
// kernels as dispatches here (pipeline, buffers per binding, grid); the cache binds them all at load, rebinds those
// that read a KV cache when the cache is reallocated, and compiles the chunk path on its first use. Recording goes
// through a PassRecorder, so a whole step or chunk is one compute pass of the caller's one command encoder.
import type { GpuContext } from '../context';
import { SHADERS, type ShaderName } from '../shaders';

/**
 * Profiling (the bench's "where the time goes"): with a timer, encodeStep / encodeChunk record each dispatch in a
 * compute pass of its own whose timestamp writes `timer.pass(label)` gives. Results are the same; only speed differs.
 */
export interface DispatchTimer {
  pass(label: string): GPUComputePassTimestampWrites;
}

/** Records dispatches into one compute pass, or one pass each (with timestamps) when a timer is given. */
export class PassRecorder {
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

/** Buffers bound at @binding(0..n) of group 0 (null: a binding the kernel does not use), read when (re)binding. */
export type Bindings = () => (GPUBuffer | null)[];

/** A dispatch of the decode step: a fixed grid. */
export interface StepDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  buffers: Bindings;
  bindGroup: GPUBindGroup | null;
  workgroups: number;
  /** Rebound when the KV cache is reallocated. */
  usesKvCache: boolean;
  /**
   * ttt_step only: the same pipeline bound to other buffers (its drift flag set), run by steps encoded with
   * { drift: true } to also write the drift stats.
   */
  drift?: { buffers: Bindings; bindGroup: GPUBindGroup | null };
}

/** A pipeline named but not compiled yet (the chunk path's, compiled on its first use). */
export interface PipelineSpec {
  shader: ShaderName;
  entry: string;
  constants: Record<string, number>;
}

/** A dispatch of the chunk path: its grid depends on the chunk's token count. */
export interface ChunkDispatch {
  label: string;
  spec: PipelineSpec;
  /** Null until the first encodeChunk compiles the chunk path. */
  pipeline: GPUComputePipeline | null;
  buffers: Bindings;
  bindGroup: GPUBindGroup | null;
  grid: (count: number) => [number, number];
  usesKvCache: boolean;
  /** Only recorded when the caller asks for drift statistics (true) or when it does not (false). */
  drift?: boolean;
}

export function recordStep(pass: PassRecorder, dispatches: readonly StepDispatch[], drift: boolean, labelPrefix = ''): void {
  for (const dispatch of dispatches) {
    const variant = drift && dispatch.drift ? dispatch.drift : dispatch;
    pass.dispatch(labelPrefix + dispatch.label, dispatch.pipeline, variant.bindGroup!, dispatch.workgroups);
  }
}

export function recordChunk(pass: PassRecorder, dispatches: readonly ChunkDispatch[], count: number, drift: boolean): void {
  for (const dispatch of dispatches) {
    if (dispatch.drift === undefined || dispatch.drift === drift) pass.dispatch(dispatch.label, dispatch.pipeline!, dispatch.bindGroup!, ...dispatch.grid(count));
  }
}

/** The pipeline and bind-group cache of one model: every dispatch of every layer is created, and bound, here. */
export class DispatchCache {
  private readonly steps: StepDispatch[] = [];
  private readonly chunks: ChunkDispatch[] = [];
  /** Which variants of the chunk path are compiled: [without drift, with drift]. */
  private readonly chunkCompiled = [false, false];

  constructor(private readonly ctx: GpuContext) {}

  pipeline(shader: ShaderName, entry: string, constants: Record<string, number>): GPUComputePipeline {
    return this.ctx.pipeline(SHADERS[shader], entry, constants);
  }

  step(label: string, pipeline: GPUComputePipeline, workgroups: number, buffers: Bindings, more: { usesKvCache?: boolean; driftBuffers?: Bindings } = {}): StepDispatch {
    const dispatch: StepDispatch = {
      label, pipeline, buffers, workgroups, bindGroup: null, usesKvCache: more.usesKvCache ?? false,
      drift: more.driftBuffers && { buffers: more.driftBuffers, bindGroup: null },
    };
    this.steps.push(dispatch);
    return dispatch;
  }

  /**
   * Chunk pipelines are named at load and compiled by the first encodeChunk of their variant (compileChunk): on
   * SwiftShader compiling is most of a load, and a model that only decodes (tests, the CLI) never needs them. The
   * warm-up reads a chunk without drift inside the load; the drift variant (only See inside reads with it) compiles
   * in the background after the load (precompileChunk), or at its first use if that comes first.
   */
  chunk(label: string, spec: PipelineSpec, grid: (count: number) => [number, number], buffers: Bindings, more: { usesKvCache?: boolean; drift?: boolean } = {}): ChunkDispatch {
    const dispatch: ChunkDispatch = { label: `chunk.${label}`, spec, pipeline: null, grid, buffers, bindGroup: null, usesKvCache: more.usesKvCache ?? false, drift: more.drift };
    this.chunks.push(dispatch);
    return dispatch;
  }

  /** (Re)creates the bind groups: all of them, or those that read a KV cache (after it was reallocated). */
  bind(onlyKvCache: boolean): void {
    for (const dispatch of this.steps) {
      if (onlyKvCache && !dispatch.usesKvCache) continue;
      dispatch.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.buffers(), dispatch.label);
      if (dispatch.drift) dispatch.drift.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.drift.buffers(), `${dispatch.label} (drift)`);
    }
    for (const dispatch of this.chunks) {
      if (dispatch.pipeline === null || (onlyKvCache && !dispatch.usesKvCache)) continue;
      dispatch.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.buffers(), dispatch.label);
    }
  }

  /** Compiles the pipelines of one variant of the chunk path (with or without drift) and binds them, once. */
  compileChunk(drift: boolean): void {
    if (this.chunkCompiled[+drift]) return;
    for (const dispatch of this.chunkVariant(drift)) {
      if (dispatch.pipeline !== null) continue;
      dispatch.pipeline = this.pipeline(dispatch.spec.shader, dispatch.spec.entry, dispatch.spec.constants);
      dispatch.bindGroup = this.bindGroup(dispatch.pipeline, dispatch.buffers(), dispatch.label);
    }
    this.chunkCompiled[+drift] = true;
  }

  /** Compiles a variant's pipelines in the background into the context's cache, for compileChunk to find there. */
  async precompileChunk(drift: boolean): Promise<void> {
    await Promise.all(this.chunkVariant(drift).filter((d) => d.pipeline === null).map((d) => this.ctx.pipelineAsync(SHADERS[d.spec.shader], d.spec.entry, d.spec.constants)));
  }

  private chunkVariant(drift: boolean): ChunkDispatch[] {
    return this.chunks.filter((d) => d.drift === undefined || d.drift === drift);
  }

  bindGroup(pipeline: GPUComputePipeline, buffers: (GPUBuffer | null)[], label: string): GPUBindGroup {
    return this.ctx.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
    });
  }
}
