// Reading a text through the model (the "See inside" views): every token is appended to the session's stream and
// the host gets back, per token, the model's loss on it (−ln p given the prefix, computed on the GPU by
// gpu/loss.ts from the logits of the previous token, so the logits never leave the GPU), the drift stats and the
// time; every `memoryEvery` tokens the exact memory report. The text is read in chunks (GpuModel.encodeChunk: one
// compute pass per chunk, logits for every token only when the loss is asked for) with one submit and one mapAsync
// per chunk. Memory reports inside a chunk are exact without ending it when nothing is allocated while reading (TTT
// states and SWA rings are fixed); a model whose KV caches grow ("attn") ends a chunk where a report is due, so that
// each report sees the cache as reading token by token would have grown it.
import { parseDriftStats } from './gpu/model';
import { GpuChunkLoss } from './gpu/loss';
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


export class TextReader {
  private readonly ctx: GpuContext;
  private readonly session: Session;
  private readonly loss: GpuChunkLoss;
  private readonly staging: GPUBuffer;
  private readonly driftBytes: number;
  /** Staging layout: the chunk's losses (f32 per token) from 0, its drift stats (driftBytes per token) from here. */
  private readonly driftOffset: number;
  private busy = false;

  constructor(ctx: GpuContext, session: Session) {
    this.ctx = ctx;
    this.session = session;
    const model = session.model;
    this.driftBytes = model.driftStats ? model.driftStats.size : 0;
    this.driftOffset = model.maxChunkTokens * 4;
    this.loss = new GpuChunkLoss(ctx, model, 'feed.loss');
    this.staging = ctx.createBuffer('scratch', 'feed.readback', this.driftOffset + model.maxChunkTokens * this.driftBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
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
    // Only growing KV caches ("attn") change the live bytes while reading: then a chunk ends at each report.
    const reportsEndChunks = hasAttn;
    const decoder = tokenizer.createDecoder();
    // The drift kernel compiles in the background after a load (GpuModel.precompileDriftChunk): wait for it here,
    // not inside the first chunk, so that it compiles once and the per-token times are the reading's own.
    if (wantDrift) await model.precompileDriftChunk();
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
      const firstPosition = model.position;
      const untilReport = opts.memoryEvery > 0 && reportsEndChunks ? opts.memoryEvery - (firstPosition % opts.memoryEvery) : Infinity;
      const count = Math.min(model.maxChunkTokens, ids.length - read, room, untilReport);
      const chunk = ids.slice(read, read + count);
      const chunkStart = performance.now();
      // The penalty's history gets exactly the ids the model reads (a cancel or a full context leaves the rest out),
      // so that a later generate() penalises what is in the stream.
      sampler.pushHistory(chunk);
      const encoder = device.createCommandEncoder({ label: 'feed' });
      model.encodeChunk(encoder, chunk, { logits: opts.loss ? 'all' : 'last', drift: wantDrift });
      if (opts.loss) {
        this.loss.encode(encoder, count);
        encoder.copyBufferToBuffer(this.loss.losses, 0, this.staging, 0, count * 4);
      }
      if (wantDrift) encoder.copyBufferToBuffer(model.chunkDriftStats!, 0, this.staging, this.driftOffset, count * this.driftBytes);
      device.queue.submit([encoder.finish()]);
      // The reports due inside this chunk and at its end (and after the text's last token). The buffers are those
      // live while the chunk was read; only the position and the KV slots in use differ between its reports.
      const memory: FeedMemorySample[] = [];
      if (opts.memoryEvery > 0) {
        const last = read + count === ids.length;
        for (let p = (Math.floor(firstPosition / opts.memoryEvery) + 1) * opts.memoryEvery; p <= model.position; p += opts.memoryEvery) {
          memory.push({ tokens: p, report: model.memoryReport(p) });
        }
        if (last && model.position % opts.memoryEvery !== 0) memory.push({ tokens: model.position, report: model.memoryReport() });
      }
      const tokens: FeedToken[] = [];
      if (opts.loss || wantDrift) {
        await this.staging.mapAsync(GPUMapMode.READ);
      } else {
        // With nothing copied into the staging buffer its mapAsync would not wait for the chunk: wait explicitly so
        // that the timing (and the next chunk) follows the GPU.
        await device.queue.onSubmittedWorkDone();
      }
      const ms = (performance.now() - chunkStart) / count;
      try {
        const losses = opts.loss ? new Float32Array(this.staging.getMappedRange(0, count * 4)) : null;
        const drift = wantDrift ? new Float32Array(this.staging.getMappedRange(this.driftOffset, count * this.driftBytes)) : null;
        const perToken = this.driftBytes / 4;
        for (let s = 0; s < count; s++) {
          const position = firstPosition + s;
          const id = chunk[s];
          const loss = losses && position > 0 ? losses[s] : null;
          if (loss !== null) {
            lossSum += loss;
            lossCount++;
          }
          const token: FeedToken = { position, id, text: decoder.push(id), loss, ms };
          if (drift) token.drift = parseDriftStats(drift.subarray(s * perToken, (s + 1) * perToken), model.tttLayers, config.nHeads);
          tokens.push(token);
        }
      } finally {
        if (opts.loss || wantDrift) this.staging.unmap();
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
    this.loss.destroy();
    this.ctx.destroyBuffer(this.staging);
  }
}
