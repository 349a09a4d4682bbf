// The DOM-free generation loop: tokenizer + GpuModel + GpuSampler + speed stats. Used by the engine worker and by
// Node benchmarks. The prompt is read in chunks (GpuModel.encodeChunk: one compute pass and one submit per chunk,
// logits for the chunk's last token only); the last chunk also samples. Per decoded token the host records one
// command buffer (model step + sampling + a copy of the sampled id and the drift stats into one of two staging
// buffers) and does one mapAsync, one step ahead: the next step runs on the GPU while the host reads the last
// sample back (see run()); the logits never leave the GPU.
//
// The stream is continuous across generate() calls (a conversation): the model keeps its state, and the last
// sampled token, not yet read by the model when a call ends, is read first by the next call.
import { ContextOverflowError, GpuModel, parseDriftStats, type GpuModelOptions } from './gpu/model';
import { GpuSampler } from './gpu/sampler';
import type { GpuContext } from './gpu/context';
import { checkSamplingParams } from './sampling';
import { Tokenizer } from './tokenizer/tokenizer';
import type { LayerDrift, MemoryReport, ModelFile, SamplingParams } from './types';

export type TokenListener = (e: SessionTokenEvent) => void | Promise<unknown>;

export interface SessionTokenEvent {
  id: number;
  /** Text completed by this token ('' while a multi-byte character is incomplete). */
  text: string;
  /** Index of the token in the stream since the last reset. */
  position: number;
  phase: 'prompt' | 'generated';
  drift?: LayerDrift[];
}

export type StopReason = 'eot' | 'max-tokens' | 'cancelled' | 'context-full';

export interface SessionResult {
  text: string;
  /** Generated ids (the end-of-text token that stopped generation is not included). */
  tokens: number[];
  promptTokens: number;
  stopReason: StopReason;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface SessionGenerateOptions {
  /** Aborting stops generation after the token in flight (stopReason 'cancelled'). */
  signal?: AbortSignal;
  /** Read the drift statistics back with each generated token (TTT models only). */
  drift?: boolean;
}

/** The prompt does not fit in what is left of an "attn" layer's maxContext; nothing was read. */
export class ContextFullError extends Error {
  override readonly name = 'ContextFullError';
  constructor(
    readonly needed: number,
    readonly available: number,
    readonly maxContext: number,
  ) {
    super(`the prompt needs ${needed} positions but only ${available} of maxContext ${maxContext} are left; reset to start over`);
  }
}

/** generate() was called while another generate() of the same session was running. */
export class SessionBusyError extends Error {
  override readonly name = 'SessionBusyError';
}

/** A saved state that does not belong to this session's model, or is damaged. */
export class SessionStateError extends Error {
  override readonly name = 'SessionStateError';
}

/** "BTSS" little-endian: a Session state blob (saveState). */
const STATE_MAGIC = 0x53535442;
const STATE_VERSION = 1;

interface StateHeader {
  config: string;
  pending: number[];
  queued: number[];
  modelBytes: number;
  historyBytes: number;
}

/** Staging layout: the sampled id at 0, the drift stats from DRIFT_OFFSET. */
const DRIFT_OFFSET = 16;

export class Session {
  readonly tokenizer: Tokenizer;
  readonly model: GpuModel;
  readonly sampler: GpuSampler;
  prefillTokensPerSecond = 0;
  decodeTokensPerSecond = 0;
  private readonly ctx: GpuContext;
  /** Two, used alternately: sample s is copied to staging[s % 2] (one can be mapped while the next is written). */
  private readonly staging: [GPUBuffer, GPUBuffer];
  private readonly driftBytes: number;
  /** Sampled but not yet read by the model (read first by the next generate). */
  private pending: number[] = [];
  private busy = false;

  private constructor(ctx: GpuContext, tokenizer: Tokenizer, model: GpuModel, sampler: GpuSampler) {
    this.ctx = ctx;
    this.tokenizer = tokenizer;
    this.model = model;
    this.sampler = sampler;
    this.driftBytes = model.driftStats ? model.driftStats.size : 0;
    const staging = (slot: number) => ctx.createBuffer('scratch', `session.readback.${slot}`, DRIFT_OFFSET + this.driftBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.staging = [staging(0), staging(1)];
  }

  static async create(ctx: GpuContext, file: ModelFile, opts: GpuModelOptions = {}): Promise<Session> {
    const tokenizer = Tokenizer.fromSpec(file.tokenizer);
    if (tokenizer.vocabSize !== file.config.vocabSize) {
      throw new RangeError(`the tokenizer has ${tokenizer.vocabSize} ids but config.vocabSize is ${file.config.vocabSize}`);
    }
    const model = await GpuModel.create(ctx, file, opts);
    let sampler: GpuSampler | null = null;
    try {
      sampler = new GpuSampler(ctx, file.config.vocabSize);
      return new Session(ctx, tokenizer, model, sampler);
    } catch (e) {
      sampler?.destroy();
      model.destroy();
      throw e;
    }
  }

  /**
   * Runs every pipeline once (the model's paths: GpuModel.warmUp; then one sampling dispatch), then resets: drivers
   * that compile shaders on first use (SwiftShader does) pay that here rather than inside the first prompt.
   */
  async warmUp(): Promise<void> {
    if (this.busy) throw new SessionBusyError('cannot warm up while a generation is running');
    const { device } = this.ctx;
    const eot = this.tokenizer.eotId;
    this.sampler.writeToken(eot);
    await this.model.warmUp(this.sampler.tokenBuffer, eot);
    const encoder = device.createCommandEncoder({ label: 'warm-up sample' });
    this.encodeSample(encoder, { temperature: 1, topK: 8, topP: 0.9, repetitionPenalty: 1.1, repetitionWindow: 8, seed: 0, maxTokens: 1 }, 0, this.driftBytes > 0);
    device.queue.submit([encoder.finish()]);
    await this.readSample(0, false);
    this.reset();
  }

  /**
   * Has the model read the token sampled last (which generate() leaves for the next call to read first). Call it
   * before anything else appends to the stream (TextReader.feed), so that the stream stays in order.
   */
  async flushPending(): Promise<void> {
    if (this.busy) throw new SessionBusyError('cannot read while a generation is running; cancel it first');
    if (this.pending.length === 0) return;
    const config = this.model.config;
    if (config.mixers.includes('attn') && this.position + this.pending.length > config.maxContext) {
      throw new ContextFullError(this.pending.length, config.maxContext - this.position, config.maxContext);
    }
    const { device } = this.ctx;
    for (const id of this.pending) {
      this.sampler.writeToken(id);
      const encoder = device.createCommandEncoder({ label: 'flush pending' });
      this.model.encodeStep(encoder, this.sampler.tokenBuffer);
      device.queue.submit([encoder.finish()]);
    }
    this.pending = [];
    await device.queue.onSubmittedWorkDone();
  }

  /**
   * Everything read so far as bytes: the model's TTT states and KV caches, the penalty's history and the token
   * waiting to be read. restoreState() puts it back in a session of the same model.
   */
  async saveState(): Promise<ArrayBuffer> {
    if (this.busy) throw new SessionBusyError('cannot save while a generation is running; cancel it first');
    const model = await this.model.saveState();
    const history = await this.sampler.saveHistory();
    const header: StateHeader = {
      config: JSON.stringify(this.model.config),
      pending: [...this.pending],
      queued: history.queued,
      modelBytes: model.byteLength,
      historyBytes: history.ring.byteLength,
    };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const jsonPadded = Math.ceil(json.length / 4) * 4;
    const out = new Uint8Array(12 + jsonPadded + model.byteLength + history.ring.byteLength);
    new Uint32Array(out.buffer, 0, 3).set([STATE_MAGIC, STATE_VERSION, json.length]);
    out.set(json, 12);
    out.set(new Uint8Array(model), 12 + jsonPadded);
    out.set(new Uint8Array(history.ring), 12 + jsonPadded + model.byteLength);
    return out.buffer;
  }

  /** Puts back a state from saveState(); throws SessionStateError if it is from another model or damaged. */
  restoreState(data: ArrayBuffer): void {
    if (this.busy) throw new SessionBusyError('cannot restore while a generation is running; cancel it first');
    if (data.byteLength < 12) throw new SessionStateError('not a saved state: too short');
    const [magic, version, jsonLength] = new Uint32Array(data, 0, 3);
    if (magic !== STATE_MAGIC) throw new SessionStateError('not a saved state (bad magic)');
    if (version !== STATE_VERSION) throw new SessionStateError(`saved state version ${version} is not supported (expected ${STATE_VERSION})`);
    const jsonPadded = Math.ceil(jsonLength / 4) * 4;
    if (12 + jsonPadded > data.byteLength) throw new SessionStateError('saved state is truncated');
    let header: StateHeader;
    try {
      header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 12, jsonLength))) as StateHeader;
    } catch {
      throw new SessionStateError('saved state header is not JSON');
    }
    if (header.config !== JSON.stringify(this.model.config)) throw new SessionStateError('this state was saved with another model');
    const modelStart = 12 + jsonPadded;
    if (modelStart + header.modelBytes + header.historyBytes !== data.byteLength) throw new SessionStateError('saved state has the wrong length');
    // Validate the history before touching the model, so that a bad blob changes nothing.
    const ring = data.slice(modelStart + header.modelBytes);
    if (!Array.isArray(header.pending) || !header.pending.every((id) => Number.isInteger(id) && id >= 0 && id < this.model.config.vocabSize)) {
      throw new SessionStateError('saved state has bad pending token ids');
    }
    if (!Array.isArray(header.queued) || !header.queued.every((id) => Number.isInteger(id) && id >= 0 && id <= 0xffffffff)) {
      throw new SessionStateError('saved state has bad history ids');
    }
    try {
      this.model.restoreState(data.slice(modelStart, modelStart + header.modelBytes));
      this.sampler.restoreHistory({ ring, queued: header.queued });
    } catch (e) {
      throw new SessionStateError(`saved state does not fit: ${(e as Error).message}`);
    }
    this.pending = [...header.pending];
  }

  /** Tokens the model has read since the last reset. */
  get position(): number {
    return this.model.position;
  }

  /**
   * Appends `prompt` to the stream, then samples until end-of-text, maxTokens, cancel or a full context.
   * An empty prompt at the start of a stream reads the end-of-text token (the boundary stories follow).
   */
  /**
   * `onToken` may return a promise (the page's acknowledgement, through the worker): decoding never runs more than
   * one token ahead of the last acknowledged one, so a Stop pressed on a token takes effect on the next.
   */
  async generate(prompt: string, params: SamplingParams, onToken?: TokenListener, opts: SessionGenerateOptions = {}): Promise<SessionResult> {
    checkSamplingParams(params);
    if (!Number.isInteger(params.maxTokens) || params.maxTokens < 0) throw new RangeError(`maxTokens must be an integer ≥ 0, got ${params.maxTokens}`);
    if (this.busy) throw new SessionBusyError('a generation is already running in this session; cancel it first');
    this.busy = true;
    try {
      return await this.run(prompt, params, onToken, opts);
    } finally {
      this.busy = false;
    }
  }

  private async run(prompt: string, params: SamplingParams, onToken: TokenListener | undefined, opts: SessionGenerateOptions): Promise<SessionResult> {
    const { device } = this.ctx;
    const config = this.model.config;
    const encoded = this.tokenizer.encode(prompt);
    const promptIds = encoded.length === 0 && this.position === 0 && this.pending.length === 0 ? [this.tokenizer.eotId] : encoded;
    const feed = [...this.pending, ...promptIds];
    if (feed.length === 0) throw new RangeError('nothing to read: the prompt is empty');
    if (config.mixers.includes('attn')) {
      const available = config.maxContext - this.position;
      if (feed.length > available) throw new ContextFullError(feed.length, available, config.maxContext);
    }
    const stopAtEot = params.stopAtEot ?? true;
    const wantDrift = (opts.drift ?? false) && this.driftBytes > 0;
    // Separate decoders, so that an incomplete character at the end of the prompt cannot swallow generated text.
    const promptDecoder = this.tokenizer.createDecoder();
    const decoder = this.tokenizer.createDecoder();
    const cancelled = () => opts.signal?.aborted === true;
    const started = performance.now();

    // Prefill: every stream token through the model, a chunk per submit; the last chunk also samples (from the
    // logits of its last token) and, when asked, leaves that token's drift stats for the first generated token.
    const pendingCount = this.pending.length;
    this.pending = [];
    let read = 0;
    let stopReason: StopReason | null = null;
    while (read < feed.length) {
      const end = Math.min(read + this.model.maxChunkTokens, feed.length);
      const firstPosition = this.position;
      const last = end === feed.length;
      // Pending ids are in the GPU history already.
      const fresh = feed.slice(Math.max(read, pendingCount), end);
      if (fresh.length > 0) this.sampler.pushHistory(fresh);
      const encoder = device.createCommandEncoder({ label: 'prefill' });
      this.model.encodeChunk(encoder, feed.slice(read, end), { logits: 'last', drift: last && wantDrift });
      if (last && params.maxTokens > 0) this.encodeSample(encoder, params, 0, wantDrift);
      device.queue.submit([encoder.finish()]);
      for (let i = Math.max(read, pendingCount); i < end; i++) {
        onToken?.({ id: feed[i], text: promptDecoder.push(feed[i]), position: firstPosition + (i - read), phase: 'prompt' });
      }
      read = end;
      if (read < feed.length) {
        await device.queue.onSubmittedWorkDone();
        if (cancelled()) {
          stopReason = 'cancelled';
          break;
        }
      }
    }

    const generated: number[] = [];
    let prefillEnd = performance.now();
    if (stopReason === null && params.maxTokens === 0) {
      await device.queue.onSubmittedWorkDone();
      prefillEnd = performance.now();
      stopReason = 'max-tokens';
    }
    // Decode, one step ahead: step s+1 (which reads sample s and draws sample s+1) is submitted before sample s is
    // read back, so the GPU computes while the host waits for the readback and the listener. When sample s ends
    // the generation (end-of-text or cancel), step s+1 has read it already, which is what the next call would
    // have done first (so nothing is pending), and its own draw is undone: the sampler's history goes back to its
    // checkpoint and the id is never shown. maxTokens and a full context are known before submitting, so they
    // never cost a wasted step. Samples alternate between two staging buffers (one mapped, one being written).
    // Step s+1 is submitted ahead unless sample s is sure to end the generation: s+1 reaches maxTokens (then the
    // sample is eot or the maxTokens-th token), the context is full (eot or context-full), or a cancel has come
    // (eot, maxTokens or cancelled: a cancel is never taken back). So every sample that does not end it has had its
    // next step submitted already, and nothing is left to submit after the checks.
    const hasAttn = config.mixers.includes('attn');
    let previousAck: unknown = undefined;
    for (let s = 0; stopReason === null; s++) {
      const readAhead = s + 1 < params.maxTokens && (!hasAttn || this.position < config.maxContext) && !cancelled();
      if (readAhead) this.submitDecodeStep(params, s + 1, wantDrift); // step s+1 reads `id` below
      const { id, drift } = await this.readSample(s % 2, wantDrift);
      if (s === 0) prefillEnd = performance.now();
      // Tokens read once this sample is: the position the sample is read at.
      const position = this.position - (readAhead ? 1 : 0);
      // The sampled id is in the GPU history and the token buffer: the model reads it at the next step.
      this.pending = readAhead ? [] : [id];
      if (stopAtEot && id === this.tokenizer.eotId) {
        stopReason = 'eot';
      } else {
        generated.push(id);
        const ack = onToken?.({ id, text: decoder.push(id), position, phase: 'generated', drift });
        // Wait until the listener has taken the previous token: a cancel sent while handling it is seen here.
        await previousAck;
        previousAck = ack;
        if (generated.length >= params.maxTokens) stopReason = 'max-tokens';
        else if (cancelled()) stopReason = 'cancelled';
        else if (hasAttn && position >= config.maxContext) stopReason = 'context-full';
      }
      if (stopReason !== null && readAhead) this.sampler.rollbackHistory(); // the draw of step s+1 is not wanted
    }
    const finished = performance.now();

    const prefillSeconds = (prefillEnd - started) / 1000;
    this.prefillTokensPerSecond = prefillSeconds > 0 ? feed.length / prefillSeconds : 0;
    // The first generated token is counted in the prefill time (it is sampled by the last prompt step).
    const decodeSeconds = (finished - prefillEnd) / 1000;
    this.decodeTokensPerSecond = generated.length > 1 && decodeSeconds > 0 ? (generated.length - 1) / decodeSeconds : 0;
    return {
      text: this.tokenizer.decode(generated),
      tokens: generated,
      promptTokens: promptIds.length,
      stopReason,
      prefillTokensPerSecond: this.prefillTokensPerSecond,
      decodeTokensPerSecond: this.decodeTokensPerSecond,
    };
  }

  /** Forget everything read: model state, KV caches, sampler history, position 0. */
  reset(): void {
    if (this.busy) throw new SessionBusyError('cannot reset while a generation is running; cancel it first');
    this.model.reset();
    this.sampler.reset();
    this.pending = [];
  }

  memoryReport(): MemoryReport {
    return this.model.memoryReport();
  }

  destroy(): void {
    this.sampler.destroy();
    this.model.destroy();
    for (const b of this.staging) this.ctx.destroyBuffer(b);
  }

  /**
   * One decode step: the model reads the last sampled id, the sampler draws sample `step` into staging buffer
   * step % 2. The sampler's history is checkpointed first, so that the draw can be undone (see run()).
   */
  private submitDecodeStep(params: SamplingParams, step: number, wantDrift: boolean): void {
    const encoder = this.ctx.device.createCommandEncoder({ label: 'decode' });
    this.model.encodeStep(encoder, this.sampler.tokenBuffer, { drift: wantDrift });
    this.sampler.checkpointHistory(encoder);
    this.encodeSample(encoder, params, step, wantDrift);
    this.ctx.device.queue.submit([encoder.finish()]);
  }

  /** Draws sample `step` (the sampler's counter) and copies it, with the drift stats when asked, to staging step % 2. */
  private encodeSample(encoder: GPUCommandEncoder, params: SamplingParams, step: number, wantDrift: boolean): void {
    const staging = this.staging[step % 2];
    this.sampler.setParams(params, step);
    this.sampler.encode(encoder, this.model.logits);
    encoder.copyBufferToBuffer(this.sampler.tokenBuffer, 0, staging, 0, 4);
    if (wantDrift) encoder.copyBufferToBuffer(this.model.driftStats!, 0, staging, DRIFT_OFFSET, this.driftBytes);
  }

  /** The one readback per decoded token: the id and, when asked, the drift stats, from staging buffer `slot`. */
  private async readSample(slot: number, wantDrift: boolean): Promise<{ id: number; drift?: LayerDrift[] }> {
    const staging = this.staging[slot];
    await staging.mapAsync(GPUMapMode.READ);
    try {
      const id = new Uint32Array(staging.getMappedRange(0, 4))[0];
      if (!wantDrift) return { id };
      return { id, drift: parseDriftStats(new Float32Array(staging.getMappedRange(DRIFT_OFFSET, this.driftBytes)), this.model.tttLayers, this.model.config.nHeads) };
    } finally {
      staging.unmap();
    }
  }
}

export { ContextOverflowError };
