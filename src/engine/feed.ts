// Reading a text through the model (the "See inside" views): every token is appended to the session's stream and
// the host gets back, per token, the model's loss on it (−ln p given the prefix, computed on the GPU by
// shaders/loss.wgsl from the logits of the previous step, so the logits never leave the GPU), the drift stats and
// the decode time; every `memoryEvery` tokens the exact memory report. Tokens are submitted one command buffer
// each (the id is written by the host) and read back a chunk at a time: one mapAsync per CHUNK tokens.
import { SHADERS } from './gpu/shaders';
import { parseDriftStats } from './gpu/model';
import type { GpuContext } from './gpu/context';
import type { Session } from './session';
import type { LayerDrift, MemoryReport } from './types';

export interface FeedOptions {
  /** Read the drift stats back with each token (TTT models only). */
  drift?: boolean;
  /** Read the model's loss on each token back (default true). */
  loss?: boolean;
  /** Take a memory report every this many tokens (and after the last); 0 or absent: none. */
  memoryEvery?: number;
  /** Aborting stops reading after the chunk in flight (stopReason 'cancelled'). */
  signal?: AbortSignal;
}

export interface FeedToken {
  /** Index of the token in the stream since the last reset. */
  position: number;
  id: number;
  /** Text completed by this token ('' while a multi-byte character is incomplete). */
  text: string;
  /** −ln p(token | everything read before), nats; null for the first token of a stream (no prefix) or when not asked for. */
  loss: number | null;
  /** Wall time per token of its chunk (submit to readback), ms. */
  ms: number;
  drift?: LayerDrift[];
}

export interface FeedMemorySample {
  /** Tokens read when the report was taken (equals report.position). */
  tokens: number;
  report: MemoryReport;
}

export interface FeedProgress {
  /** The tokens read since the last progress message, in order. */
  tokens: FeedToken[];
  memory: FeedMemorySample[];
  read: number;
  total: number;
}

export type FeedStopReason = 'done' | 'cancelled' | 'context-full';

export interface FeedResult {
  read: number;
  total: number;
  stopReason: FeedStopReason;
  tokensPerSecond: number;
  /** Mean loss over the tokens that have one (null if none). */
  meanLoss: number | null;
}

export class FeedError extends Error {
  override readonly name = 'FeedError';
}

/** Tokens per readback: large enough to amortise the mapAsync, small enough for a live chart and a quick cancel. */
export const FEED_CHUNK = 8;

export class TextReader {
  private readonly ctx: GpuContext;
  private readonly session: Session;
  private readonly lossOut: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly driftBytes: number;
  private readonly slotBytes: number;
  private readonly lossBindGroup: GPUBindGroup;
  private readonly lossPipeline: GPUComputePipeline;
  private busy = false;

  constructor(ctx: GpuContext, session: Session) {
    this.ctx = ctx;
    this.session = session;
    const model = session.model;
    this.driftBytes = model.driftStats ? model.driftStats.size : 0;
    // Per token slot: the loss (padded to 16 bytes), then the drift stats.
    this.slotBytes = 16 + this.driftBytes;
    this.lossOut = ctx.createBuffer('scratch', 'feed.loss', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    this.staging = ctx.createBuffer('scratch', 'feed.readback', FEED_CHUNK * this.slotBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.lossPipeline = ctx.pipeline(SHADERS.loss, 'token_loss', { V: model.config.vocabSize });
    this.lossBindGroup = ctx.device.createBindGroup({
      label: 'token_loss',
      layout: this.lossPipeline.getBindGroupLayout(0),
      entries: [model.logits, session.sampler.tokenBuffer, this.lossOut].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /** Appends `text` to the session's stream; see FeedOptions. Throws FeedError for bad options or an empty text. */
  async feed(text: string, opts: FeedOptions, onProgress?: (p: FeedProgress) => void): Promise<FeedResult> {
    const memoryEvery = opts.memoryEvery ?? 0;
    if (!Number.isInteger(memoryEvery) || memoryEvery < 0) throw new FeedError(`memoryEvery must be an integer ≥ 0, got ${memoryEvery}`);
    if (this.busy) throw new FeedError('a text is already being read; cancel it first');
    const ids = this.session.tokenizer.encode(text);
    if (ids.length === 0) throw new FeedError('nothing to read: the text is empty');
    this.busy = true;
    try {
      return await this.run(ids, { drift: opts.drift ?? false, loss: opts.loss ?? true, memoryEvery, signal: opts.signal }, onProgress);
    } finally {
      this.busy = false;
    }
  }

  private async run(ids: number[], opts: { drift: boolean; loss: boolean; memoryEvery: number; signal?: AbortSignal }, onProgress?: (p: FeedProgress) => void): Promise<FeedResult> {
    const { device } = this.ctx;
    const { model, sampler, tokenizer } = this.session;
    const config = model.config;
    const wantDrift = opts.drift && this.driftBytes > 0;
    const hasAttn = config.mixers.includes('attn');
    const decoder = tokenizer.createDecoder();
    const started = performance.now();
    let read = 0;
    let lossSum = 0;
    let lossCount = 0;
    let stopReason: FeedStopReason = 'done';

    while (read < ids.length) {
      if (opts.signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      const room = hasAttn ? config.maxContext - model.position : Infinity;
      if (room <= 0) {
        stopReason = 'context-full';
        break;
      }
      const count = Math.min(FEED_CHUNK, ids.length - read, room);
      const chunkStart = performance.now();
      const firstPosition = model.position;
      const memory: FeedMemorySample[] = [];
      // The penalty's history gets exactly the ids the model reads (a cancel or a full context leaves the rest out),
      // so that a later generate() penalises what is in the stream.
      sampler.pushHistory(ids.slice(read, read + count));
      for (let s = 0; s < count; s++) {
        sampler.writeToken(ids[read + s]);
        const encoder = device.createCommandEncoder({ label: 'feed' });
        if (opts.loss) {
          // The logits of the previous step against the token now being read.
          const pass = encoder.beginComputePass({ label: 'token_loss' });
          pass.setPipeline(this.lossPipeline);
          pass.setBindGroup(0, this.lossBindGroup);
          pass.dispatchWorkgroups(1);
          pass.end();
          encoder.copyBufferToBuffer(this.lossOut, 0, this.staging, s * this.slotBytes, 4);
        }
        model.encodeStep(encoder, sampler.tokenBuffer);
        if (wantDrift) encoder.copyBufferToBuffer(model.driftStats!, 0, this.staging, s * this.slotBytes + 16, this.driftBytes);
        device.queue.submit([encoder.finish()]);
        if (opts.memoryEvery > 0 && (model.position % opts.memoryEvery === 0 || read + s + 1 === ids.length)) {
          memory.push({ tokens: model.position, report: model.memoryReport() });
        }
      }
      // With nothing copied into the staging buffer its mapAsync would not wait for the steps: wait explicitly so
      // that the timing (and the next chunk) follows the GPU.
      if (!opts.loss && !wantDrift) await device.queue.onSubmittedWorkDone();
      await this.staging.mapAsync(GPUMapMode.READ, 0, count * this.slotBytes);
      const ms = (performance.now() - chunkStart) / count;
      const tokens: FeedToken[] = [];
      try {
        const raw = this.staging.getMappedRange(0, count * this.slotBytes);
        for (let s = 0; s < count; s++) {
          const position = firstPosition + s;
          const id = ids[read + s];
          const loss = opts.loss && position > 0 ? new Float32Array(raw, s * this.slotBytes, 1)[0] : null;
          if (loss !== null) {
            lossSum += loss;
            lossCount++;
          }
          const token: FeedToken = { position, id, text: decoder.push(id), loss, ms };
          if (wantDrift) token.drift = parseDriftStats(new Float32Array(raw, s * this.slotBytes + 16, this.driftBytes / 4), model.tttLayers, config.nHeads);
          tokens.push(token);
        }
      } finally {
        this.staging.unmap();
      }
      read += count;
      onProgress?.({ tokens, memory, read, total: ids.length });
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      read,
      total: ids.length,
      stopReason,
      tokensPerSecond: seconds > 0 ? read / seconds : 0,
      meanLoss: lossCount > 0 ? lossSum / lossCount : null,
    };
  }

  destroy(): void {
    this.ctx.destroyBuffer(this.lossOut);
    this.ctx.destroyBuffer(this.staging);
  }
}
