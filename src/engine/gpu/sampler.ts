// GPU token sampler (shaders/sample.wgsl): the semantics of docs/SAMPLING.md / src/engine/sampling/sample.ts in one
// dispatch of one workgroup. The sampled id lands in `tokenBuffer`, which is also the next step's input token, so
// decoding never needs the logits on the CPU; the recent-token history for the repetition penalty lives on the GPU.
import { checkSamplingParams, SamplingParamsError } from '../sampling';
import type { SamplingParams } from '../types';
import type { GpuContext, StagingReader } from './context';
import { SHADERS } from './shaders';

/** Ids the GPU history ring holds (shaders/sample.wgsl HISTORY_CAPACITY): the largest repetitionWindow. */
export const SAMPLER_HISTORY_CAPACITY = 1024;
/** Largest vocabulary the sampler is tested for (chunked loops scale, but the budget per token was measured here). */
export const SAMPLER_MAX_VOCAB = 65536;
/** Threads of the sampling workgroup on GPUs (a power of two: the reductions are trees). */
export const SAMPLER_WORKGROUP_SIZE = 64;
/**
 * Threads of the sampling workgroup on CPU adapters (KernelFeatures.fewSamplerThreads): one workgroup runs on one CPU
 * thread there whatever its size, so its threads only add barrier switches; 4 = one SIMD group of SwiftShader.
 */
export const SAMPLER_FEW_THREADS = 4;

const PARAMS_BYTES = 32;
// History struct: count, pending_count, ring[CAP], pending[CAP] (all u32).
const HISTORY_BYTES = 8 + 2 * SAMPLER_HISTORY_CAPACITY * 4;
const PENDING_OFFSET = 8 + SAMPLER_HISTORY_CAPACITY * 4;

export class GpuSampler {
  /** u32[1]: the id sampled by the last encode(); bind it as the model's input token. */
  readonly tokenBuffer: GPUBuffer;
  readonly vocabSize: number;
  private readonly ctx: GpuContext;
  private readonly paramsBuffer: GPUBuffer;
  private readonly workBuffer: GPUBuffer;
  private readonly weightsBuffer: GPUBuffer;
  private readonly historyBuffer: GPUBuffer;
  /** A copy of historyBuffer taken by checkpointHistory(), put back by rollbackHistory(). */
  private readonly historyCheckpoint: GPUBuffer;
  private readonly pipeline: GPUComputePipeline;
  /** Reused by saveHistory (a snapshot before every message must not create buffers). */
  private readonly staging: StagingReader;
  private readonly bindGroups = new WeakMap<GPUBuffer, GPUBindGroup>();
  /** Prompt ids queued by pushHistory() and not yet handed to the GPU (the next encode() does). */
  private queued: number[] = [];
  private paramsSet = false;

  /** Threads of its one workgroup. */
  readonly workgroupSize: number;

  /** `workgroupSize`: a power of two up to 256; by default SAMPLER_FEW_THREADS on CPU adapters, else SAMPLER_WORKGROUP_SIZE. */
  constructor(ctx: GpuContext, vocabSize: number, workgroupSize = ctx.kernelFeatures.fewSamplerThreads ? SAMPLER_FEW_THREADS : SAMPLER_WORKGROUP_SIZE) {
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > SAMPLER_MAX_VOCAB) {
      throw new RangeError(`GpuSampler: vocabSize must be an integer in 1..${SAMPLER_MAX_VOCAB}, got ${vocabSize}`);
    }
    if (!Number.isInteger(workgroupSize) || workgroupSize < 1 || workgroupSize > 256 || (workgroupSize & (workgroupSize - 1)) !== 0) {
      throw new RangeError(`GpuSampler: workgroupSize must be a power of two in 1..256, got ${workgroupSize}`);
    }
    this.workgroupSize = workgroupSize;
    this.ctx = ctx;
    this.vocabSize = vocabSize;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    this.tokenBuffer = ctx.createBuffer('activations', 'sampler.token', 4, storage);
    this.paramsBuffer = ctx.createBuffer('scratch', 'sampler.params', PARAMS_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.workBuffer = ctx.createBuffer('scratch', 'sampler.work', vocabSize * 4, GPUBufferUsage.STORAGE);
    this.weightsBuffer = ctx.createBuffer('scratch', 'sampler.weights', vocabSize * 4, GPUBufferUsage.STORAGE);
    this.historyBuffer = ctx.createBuffer('scratch', 'sampler.history', HISTORY_BYTES, storage);
    this.historyCheckpoint = ctx.createBuffer('scratch', 'sampler.history_checkpoint', HISTORY_BYTES, GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
    this.pipeline = ctx.pipeline(SHADERS.sample, 'sample', { WG: workgroupSize });
    this.staging = ctx.stagingReader('sampler.history_readback', HISTORY_BYTES);
    this.reset();
  }

  /**
   * Parameters of the next encode(). `step` is the counter of the draw uniform(seed, step) (SAMPLING.md: the index
   * of the sampled token within its generation). Throws SamplingParamsError for values outside their ranges.
   */
  setParams(params: SamplingParams, step: number): void {
    checkSamplingParams(params);
    if (params.repetitionWindow > SAMPLER_HISTORY_CAPACITY) {
      throw new SamplingParamsError(`repetitionWindow must be ≤ ${SAMPLER_HISTORY_CAPACITY} on the GPU sampler, got ${params.repetitionWindow}`);
    }
    if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw new SamplingParamsError(`step must be a u32, got ${step}`);
    if (!Number.isInteger(params.seed)) throw new SamplingParamsError(`seed must be an integer, got ${params.seed}`);
    const data = new ArrayBuffer(PARAMS_BYTES);
    const u32 = new Uint32Array(data);
    const f32 = new Float32Array(data);
    u32[0] = this.vocabSize;
    f32[1] = params.temperature;
    u32[2] = Math.min(params.topK, 0xffffffff);
    f32[3] = params.topP;
    f32[4] = params.repetitionPenalty;
    u32[5] = params.repetitionWindow;
    u32[6] = params.seed >>> 0;
    u32[7] = step >>> 0;
    this.ctx.device.queue.writeBuffer(this.paramsBuffer, 0, data);
    this.paramsSet = true;
  }

  /** Queues ids (prompt tokens) for the penalty's history; they join it at the next encode(), before sampling. */
  pushHistory(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`pushHistory: token id ${id} is not a u32`);
      this.queued.push(id);
    }
    // Only the newest ids can ever be in the window.
    if (this.queued.length > SAMPLER_HISTORY_CAPACITY) this.queued = this.queued.slice(-SAMPLER_HISTORY_CAPACITY);
  }

  /** Records the sampling dispatch: reads `logits` (f32[vocabSize]), writes tokenBuffer, appends to the history. */
  encode(encoder: GPUCommandEncoder, logits: GPUBuffer): void {
    if (!this.paramsSet) throw new Error('GpuSampler.encode: call setParams() first');
    if (logits.size < this.vocabSize * 4) throw new RangeError(`GpuSampler.encode: logits buffer holds ${logits.size} bytes, need ${this.vocabSize * 4}`);
    if (this.queued.length > 0) {
      // Written now, so the queue applies it before the command buffer this encoder becomes.
      const pending = new Uint32Array([this.queued.length]);
      this.ctx.device.queue.writeBuffer(this.historyBuffer, 4, pending);
      this.ctx.device.queue.writeBuffer(this.historyBuffer, PENDING_OFFSET, new Uint32Array(this.queued));
      this.queued = [];
    }
    const pass = encoder.beginComputePass({ label: 'sample' });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup(logits));
    pass.dispatchWorkgroups(1);
    pass.end();
  }

  /**
   * Records a copy of the penalty's history into `encoder`: put it back with rollbackHistory() to undo the encode()s
   * recorded after it (a speculative decode step whose token turned out not to be wanted). The whole ring is
   * copied: an append may overwrite the oldest slot of a full window. Call it after any pushHistory() was handed
   * over (it does not cover ids still queued).
   */
  checkpointHistory(encoder: GPUCommandEncoder): void {
    encoder.copyBufferToBuffer(this.historyBuffer, 0, this.historyCheckpoint, 0, HISTORY_BYTES);
  }

  /** Puts back the history of the last checkpointHistory() (queue order: after everything submitted so far). */
  rollbackHistory(): void {
    const encoder = this.ctx.device.createCommandEncoder({ label: 'sampler history rollback' });
    encoder.copyBufferToBuffer(this.historyCheckpoint, 0, this.historyBuffer, 0, HISTORY_BYTES);
    this.ctx.device.queue.submit([encoder.finish()]);
  }

  /** Sets the input token directly (prompt tokens during prefill). */
  writeToken(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    this.ctx.device.queue.writeBuffer(this.tokenBuffer, 0, new Uint32Array([id]));
  }

  /** The penalty's history (GPU ring and ids still queued), for Session.saveState. */
  async saveHistory(): Promise<{ ring: ArrayBuffer; queued: number[] }> {
    const queued = [...this.queued];
    const [ring] = await this.staging.read([{ buffer: this.historyBuffer }]);
    return { ring, queued };
  }

  /** The ids the penalty's window can reach, oldest first: the GPU ring, then the ids not yet handed to it. */
  async historyIds(): Promise<number[]> {
    const { ring, queued } = await this.saveHistory();
    const words = new Uint32Array(ring);
    const [count, pendingCount] = words;
    const ids: number[] = [];
    for (let j = Math.max(0, count - SAMPLER_HISTORY_CAPACITY); j < count; j++) ids.push(words[2 + (j % SAMPLER_HISTORY_CAPACITY)]);
    for (let j = 0; j < pendingCount; j++) ids.push(words[PENDING_OFFSET / 4 + j]);
    ids.push(...queued);
    return ids.slice(-SAMPLER_HISTORY_CAPACITY);
  }

  restoreHistory(saved: { ring: ArrayBuffer; queued: readonly number[] }): void {
    if (saved.ring.byteLength !== HISTORY_BYTES) throw new RangeError(`sampler history must be ${HISTORY_BYTES} bytes, got ${saved.ring.byteLength}`);
    this.ctx.device.queue.writeBuffer(this.historyBuffer, 0, saved.ring);
    this.queued = [];
    this.pushHistory(saved.queued);
  }

  /** Empties the history (a new conversation). */
  reset(): void {
    this.queued = [];
    this.ctx.device.queue.writeBuffer(this.historyBuffer, 0, new Uint32Array(2));
  }

  destroy(): void {
    for (const b of [this.tokenBuffer, this.paramsBuffer, this.workBuffer, this.weightsBuffer, this.historyBuffer, this.historyCheckpoint]) this.ctx.destroyBuffer(b);
    this.staging.destroy();
  }

  private bindGroup(logits: GPUBuffer): GPUBindGroup {
    let group = this.bindGroups.get(logits);
    if (!group) {
      group = this.ctx.device.createBindGroup({
        label: 'sample',
        layout: this.pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: logits } },
          { binding: 1, resource: { buffer: this.paramsBuffer } },
          { binding: 2, resource: { buffer: this.workBuffer } },
          { binding: 3, resource: { buffer: this.historyBuffer } },
          { binding: 4, resource: { buffer: this.tokenBuffer } },
          { binding: 5, resource: { buffer: this.weightsBuffer } },
        ],
      });
      this.bindGroups.set(logits, group);
    }
    return group;
  }
}
