// The model graph on the GPU (docs/MATH.md, docs/ARCHITECTURE.md): a composition of layer modules under layers/ —
// the embedding, then per layer of config.mixers its mixer (TTT or attention) and its FFN, then the final norm and
// LM head. Each module owns its weights, its kernels' dispatches for both paths (the decode step and the chunk)
// and its reading state; they share the activations (layers/activations.ts) and one pipeline and bind-group cache
// (layers/dispatch.ts). GpuModel records them in order into one compute pass of the caller's command encoder and
// keeps what is the model's: the position, the KV caches' common size, save/restore, the memory report.
import type { LayerDrift, LayerMemory, MemoryReport, ModelConfig, ModelFile } from '../types';
import { grownKvSlots } from '../model/kv-cache';
import { ContextOverflowError } from '../reference/attention';
import { MEMORY_TAGS, type GpuContext, type StagingReader } from './context';
import { checkModel, GpuModelError } from './model-check';
import { DEFAULT_MAX_CHUNK_TOKENS, type ChunkOptions, type GpuModelOptions, type StepOptions } from './model-options';
import { decodeStateHeader, encodeState, stateOffsets, stateUnfitError } from './state-bytes';
import { createActivations, type ChunkActivations, type StepActivations } from './layers/activations';
import { LayerBuilder, storageUsage } from './layers/builder';
import { DispatchCache, PassRecorder, type DispatchTimer } from './layers/dispatch';
import { initialDriftStats, parseDriftStats } from './layers/drift';
import { Embedding } from './layers/embedding';
import { TttMixer } from './layers/ttt-mixer';
import { AttentionMixer } from './layers/attention-mixer';
import { Ffn } from './layers/ffn';
import { LmHead } from './layers/lm-head';
import type { GpuLayer } from './layers/layer';

export { ContextOverflowError, GpuModelError, parseDriftStats, type DispatchTimer };
export { DRIFT_STATS_PER_HEAD } from './layers/drift';
export { DEFAULT_MAX_CHUNK_TOKENS, type ChunkLogits, type ChunkOptions, type GpuModelOptions, type StepOptions } from './model-options';

export class GpuModel {
  readonly config: ModelConfig;
  /** f32[V]: the logits of the last token step. */
  readonly logits: GPUBuffer;
  /** f32[tttLayers, H, DRIFT_STATS_PER_HEAD] of the last step (see parseDriftStats); null without TTT layers. */
  readonly driftStats: GPUBuffer | null;
  /** Model layer index of each row of driftStats. */
  readonly tttLayers: number[];
  /** Most tokens per encodeChunk call. */
  readonly maxChunkTokens: number;
  /** u32[maxChunkTokens]: the token ids of the chunk being read. */
  readonly chunkIds: GPUBuffer;
  /** f32[maxChunkTokens, V]: every token's logits of the last chunk read with logits 'all'. */
  readonly chunkLogits: GPUBuffer;
  /** f32[V]: the logits of the token before the last chunk read with logits 'all'. */
  readonly previousLogits: GPUBuffer;
  /** f32[maxChunkTokens, tttLayers, H, DRIFT_STATS_PER_HEAD]: per-token drift of the last chunk read with drift. */
  readonly chunkDriftStats: GPUBuffer | null;
  private pos = 0;
  private readonly ctx: GpuContext;
  private readonly owned: Set<GPUBuffer>;
  private readonly stepBuffers: StepActivations;
  private readonly chunkBuffers: ChunkActivations;
  private readonly kernels: DispatchCache;
  private readonly embedding: Embedding;
  /** The mixer and FFN of every layer, in order. */
  private readonly layers: GpuLayer[] = [];
  private readonly ffns: Ffn[] = [];
  private readonly mixers: (TttMixer | AttentionMixer)[] = [];
  private readonly head: LmHead;
  private memory = true;
  /** Whether driftStats describes the state after the last step (false after a step without drift). */
  private driftCurrent = true;
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
    const maxChunk = opts.maxChunkTokens ?? DEFAULT_MAX_CHUNK_TOKENS;
    if (!Number.isInteger(maxChunk) || maxChunk <= 0) throw new GpuModelError(`maxChunkTokens must be a positive integer, got ${maxChunk}`);
    this.maxChunkTokens = maxChunk;

    const { step, chunk } = createActivations(c, maxChunk, (label, bytes, usage) =>
      this.own(ctx.createBuffer('activations', label, bytes, usage === 'uniform' ? GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST : storageUsage())));
    ctx.device.queue.writeBuffer(step.memoryScale, 0, new Float32Array([1, 0, 0, 0]));
    ctx.device.queue.writeBuffer(step.driftFlags[1], 0, new Uint32Array([1, 0, 0, 0]));
    this.stepBuffers = step;
    this.chunkBuffers = chunk;
    this.logits = step.logits;
    this.driftStats = step.driftStats;
    this.chunkIds = chunk.ids;
    this.chunkLogits = chunk.logits;
    this.previousLogits = chunk.previousLogits;
    this.chunkDriftStats = chunk.driftStats;
    this.hostToken = this.own(ctx.createBuffer('scratch', 'host_token', 16, storageUsage()));
    this.logitsReadback = this.own(ctx.createBuffer('scratch', 'logits_readback', c.vocabSize * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST));
    this.staging = ctx.stagingReader('model.readback');

    this.kernels = new DispatchCache(ctx);
    const b = new LayerBuilder(ctx, model, this.kernels, step, chunk, (buffer) => this.own(buffer));
    this.embedding = new Embedding(b, this.kernels);
    this.tttLayers = [];
    c.mixers.forEach((kind, i) => {
      const mixer = kind === 'ttt' ? new TttMixer(b, i, this.tttLayers.push(i) - 1) : new AttentionMixer(b, i, kind, Math.min(kvInitialTokens, c.maxContext));
      this.mixers.push(mixer);
      const ffn = new Ffn(b, i);
      this.ffns.push(ffn);
      this.layers.push(mixer, ffn);
    });
    this.head = new LmHead(b, this.embedding.table);
    b.done();
    this.kernels.bind(false);
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
    this.ctx.device.queue.writeBuffer(this.stepBuffers.memoryScale, 0, new Float32Array([on ? 1 : 0, 0, 0, 0]));
    this.memory = on;
  }

  /**
   * The buffers each dispatch of one token step binds, in order (the embedding first, as one row of its table:
   * it reads the row of the token only). The bench sums their sizes into the bytes a decode step reads.
   */
  bindingsPerToken(): { label: string; buffers: { label: string; size: number }[] }[] {
    this.assertAlive();
    return [this.embedding.bindings(), ...this.stepDispatches().map((dispatch) => ({ label: dispatch.label, buffers: dispatch.buffers().flatMap((b) => (b ? [{ label: b.label, size: b.size }] : [])) }))];
  }

  /** Number of compute dispatches in one token step. */
  get dispatchesPerToken(): number {
    return this.stepDispatches().length + 1;
  }

  /** The decode step's dispatches after the embedding, in order. */
  private stepDispatches() {
    return [...this.layers, this.head].flatMap((layer) => layer.stepDispatches);
  }

  private attnLayers(): AttentionMixer[] {
    return this.mixers.filter((m): m is AttentionMixer => m.kind === 'attn');
  }

  /**
   * Makes room for the token at `nextPosition` (doubles the "attn" KV caches when full, model/kv-cache.ts). Runs its
   * own copy submission, so call it (or let encodeStep call it) before recording the step that needs the room.
   * Throws ContextOverflowError past maxContext on "attn" layers, before anything is encoded.
   */
  prepare(nextPosition: number): void {
    this.assertAlive();
    const c = this.config;
    const attnLayers = this.attnLayers();
    if (attnLayers.length === 0) return;
    if (nextPosition >= c.maxContext) throw new ContextOverflowError(nextPosition + 1, c.maxContext);
    const needed = nextPosition + 1;
    if (attnLayers.every((l) => l.slots >= needed)) return;
    this.resizeKvCaches(attnLayers, grownKvSlots(attnLayers[0].slots, needed, c.maxContext), true);
  }

  private resizeKvCaches(layers: AttentionMixer[], slots: number, keepContents: boolean): void {
    const encoder = this.ctx.device.createCommandEncoder({ label: 'kv-cache resize' });
    const retired = layers.filter((layer) => layer.slots !== slots).map((layer) => layer.resize(slots, keepContents, encoder));
    this.ctx.device.queue.submit([encoder.finish()]);
    // Destroying after submit is safe: WebGPU frees the memory once the submitted copies have run.
    for (const b of retired) this.release(b);
    this.kernels.bind(true);
  }

  /**
   * Records one token step into `encoder`: reads the u32 token id at offset 0 of `tokenBuffer` (STORAGE usage),
   * runs every layer and writes `logits` (and `driftStats` with `{ drift: true }`). Submit the encoder before
   * recording the next step, unless prepare() was called for the last position of a batch of steps.
   */
  encodeStep(encoder: GPUCommandEncoder, tokenBuffer: GPUBuffer, opts: StepOptions = {}): void {
    this.assertAlive();
    this.prepare(this.pos);
    const drift = opts.drift ?? false;
    const pass = new PassRecorder(encoder, `token step ${this.pos}`, opts.timer);
    this.embedding.encodeStep(pass, tokenBuffer);
    for (const layer of this.layers) layer.encodeStep(pass, drift);
    this.head.encodeStep(pass, drift);
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
    queue.writeBuffer(this.chunkBuffers.info, 0, new Uint32Array([count, 0, 0, 0]));
    if (logits === 'all') encoder.copyBufferToBuffer(this.logits, 0, this.previousLogits, 0, V * 4);

    this.kernels.compileChunk(drift);
    const pass = new PassRecorder(encoder, `chunk of ${count} at ${this.pos}`, opts.timer);
    this.embedding.encodeChunk(pass, count);
    for (const layer of this.layers) layer.encodeChunk(pass, count, drift);
    if (logits === 'all') this.head.encodeChunk(pass, count);
    this.head.encodeAdvance(pass, count);
    pass.end();

    const d = this.config.dModel;
    if (logits === 'all') encoder.copyBufferToBuffer(this.chunkLogits, (count - 1) * V * 4, this.logits, 0, V * 4);
    if (logits === 'last') {
      // The decode step's own final norm and LM head on a copy of the last row: the logits the sampler reads.
      encoder.copyBufferToBuffer(this.chunkBuffers.x, (count - 1) * d * 4, this.stepBuffers.x, 0, d * 4);
      const head = new PassRecorder(encoder, 'chunk lm_head (last token)', opts.timer);
      this.head.encodeLastRow(head);
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
    const m = this.mixers.find((x): x is TttMixer => x.kind === 'ttt' && x.index === layer);
    if (!m) throw new GpuModelError(`layer ${layer} is not a TTT layer (TTT layers: ${this.tttLayers.join(', ') || 'none'})`);
    const H = this.config.nHeads;
    if (!Number.isInteger(head) || head < 0 || head >= H) throw new GpuModelError(`head ${head} is outside 0..${H - 1}`);
    return m.matrixDelta(head, this.pos, this.staging);
  }

  /**
   * Runs the paths a read takes once, on token `tokenId`: a decode step without and with drift stats, a chunk
   * without drift in both of its forms (every token's logits, the last one's), each submitted on its own, then
   * reset(). Drivers that compile shaders on first use (SwiftShader does: most of a first load there) pay it here,
   * not inside the first prompt. The chunk's drift variant is left to precompileDriftChunk. The step reads the id at
   * offset 0 of `tokenBuffer`; write `tokenId` there first.
   */
  async warmUp(tokenBuffer: GPUBuffer, tokenId: number): Promise<void> {
    this.assertAlive();
    const { device } = this.ctx;
    for (const drift of [false, true]) {
      const encoder = device.createCommandEncoder({ label: drift ? 'warm-up step (drift)' : 'warm-up step' });
      this.encodeStep(encoder, tokenBuffer, { drift });
      device.queue.submit([encoder.finish()]);
    }
    // The chunk without drift in both of its forms; the drift variant compiles later (precompileDriftChunk).
    for (const opts of [{ logits: 'all' }, { logits: 'last' }] as const) {
      const encoder = device.createCommandEncoder({ label: 'warm-up chunk' });
      this.encodeChunk(encoder, [tokenId], opts);
      device.queue.submit([encoder.finish()]);
    }
    await device.queue.onSubmittedWorkDone();
    this.reset();
  }

  /**
   * Compiles the chunk path's drift variant (what See inside reads with) in the background: on SwiftShader its TTT
   * kernel is ~3.5 s of compiling that a load need not wait for. A failure is left for its first use to report.
   */
  async precompileDriftChunk(): Promise<void> {
    this.assertAlive();
    if (this.chunkDriftStats) await this.kernels.precompileChunk(true).catch(() => undefined);
  }

  /** Forget everything read: W0 ← w_init, b0 ← b_init, accumulators and histories zero, KV caches emptied, position 0. */
  reset(): void {
    this.assertAlive();
    const attnLayers = this.attnLayers();
    const initialSlots = Math.min(this.kvInitialTokens, this.config.maxContext);
    if (attnLayers.some((l) => l.slots !== initialSlots)) this.resizeKvCaches(attnLayers, initialSlots, false);
    const encoder = this.ctx.device.createCommandEncoder({ label: 'reset' });
    for (const layer of this.layers) layer.reset(encoder);
    if (this.driftStats) this.ctx.device.queue.writeBuffer(this.driftStats, 0, initialDriftStats(this.tttLayers.length, this.config.nHeads));
    encoder.clearBuffer(this.stepBuffers.position);
    this.ctx.device.queue.submit([encoder.finish()]);
    this.pos = 0;
    this.driftCurrent = true;
  }

  /**
   * Exact bytes of the context's live GPU buffers per tag, the position, and the KV cache allocated vs in use.
   * `position` (at most the current one) reports as at an earlier token of the chunk just read: the KV slots in use
   * are those of that position, the buffers the live ones — which is exact where nothing grew for the chunk (TTT
   * states, SWA rings); an "attn" cache grows before a chunk, so TextReader ends chunks at reports for those.
   */
  memoryReport(position = this.pos): MemoryReport {
    if (!Number.isInteger(position) || position < 0 || position > this.pos) throw new GpuModelError(`a memory report is for a position read so far (0 to ${this.pos}), got ${position}`);
    const r = this.ctx.memoryReport();
    // Each block reports its own buffers and state (layers/layer.ts); the KV figure sums the attention mixers'.
    const layers: LayerMemory[] = this.mixers.map((mixer, i) => {
      const bytes = mixer.ownBytes();
      const ffn = this.ffns[i].ownBytes();
      for (const tag of MEMORY_TAGS) bytes[tag] += ffn[tag];
      return { mixer: mixer.kind, bytes, stateInUse: mixer.stateBytesInUse(position) };
    });
    const inUse = layers.reduce((sum, l) => sum + (l.mixer === 'ttt' ? 0 : l.stateInUse), 0);
    return { bytes: r.bytes, total: r.total, buffers: r.buffers, position, kvCache: { allocated: r.bytes['kv-cache'], inUse }, layers };
  }

  /**
   * The reading state as bytes: the position, then every TTT state, KV cache and the drift stats, each with its
   * size (KV caches with their slot count). For snapshots and "regenerate"; Session.saveState wraps it.
   */
  async saveState(): Promise<ArrayBuffer> {
    this.assertAlive();
    const buffers = this.stateBuffers();
    const contents = await this.staging.read(buffers.map((buffer) => ({ buffer })));
    return encodeState(this.pos, this.mixerSlots(), buffers.map((b) => b.size), contents);
  }

  /** Puts back a state from saveState() of a model with this config; throws GpuModelError if it does not fit. */
  restoreState(data: ArrayBuffer): void {
    this.assertAlive();
    const { position, slots } = decodeStateHeader(data, this.mixers.length);
    const attnLayers = this.attnLayers();
    const attnSlots = this.mixers.flatMap((m, i) => (m.kind === 'attn' ? [slots[i]] : []));
    if (attnSlots.some((n) => n !== attnSlots[0] || n < 1 || n > this.config.maxContext)) throw stateUnfitError('bad KV cache sizes');
    if (attnLayers.length > 0 && attnLayers[0].slots !== attnSlots[0]) this.resizeKvCaches(attnLayers, attnSlots[0], false);
    const buffers = this.stateBuffers();
    const offsets = stateOffsets(data, this.mixers.length, buffers.map((b) => b.size));
    buffers.forEach((b, i) => this.ctx.device.queue.writeBuffer(b, 0, data, offsets[i], b.size));
    this.pos = position;
    this.driftCurrent = true; // the saved stats come back with the state (as current as they were when saved)
  }

  /** KV slots per mixer, as saveState records them (0 for TTT layers). */
  private mixerSlots(): number[] {
    return this.mixers.map((m) => (m.kind === 'ttt' ? 0 : m.slots));
  }

  private stateBuffers(): GPUBuffer[] {
    const buffers = [this.stepBuffers.position, ...this.layers.flatMap((layer) => layer.stateBuffers())];
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

  private assertAlive(): void {
    if (this.destroyed) throw new GpuModelError('this GpuModel was destroyed');
  }
}
