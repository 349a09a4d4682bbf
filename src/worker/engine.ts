// EngineApi (api.ts) implemented over a GpuContext and a Session. Kept apart from engine.worker.ts (which only
// exposes it with comlink) so that its dependencies — the GPU context factory, the model cache, fetch — can be
// injected by tests.
import { transfer } from 'comlink';
import { GpuContext } from '../engine/gpu/context';
import { parseBtttWithHeader, readBtttStream, readBtttHeader, modelStats } from '../engine/format';
import { Session, type SessionTokenEvent } from '../engine/session';
import { TextReader, type FeedProgress, type FeedResult } from '../engine/feed';
import type { MemoryReport, ModelFile, SamplingParams } from '../engine/types';
import type { CachedModelMeta, ModelCache, SnapshotMeta, SnapshotTurn } from '../storage/modelCache';
import { gpuSupportProblems } from '../engine/gpu/support';
import type { CachedModelStatus, EngineApi, EngineErrorCode, EngineErrorEvent, EngineStats, FeedOptions, GenerateOptions, GenerateResult, LoadOptions, LoadProgress, ModelInfo, ModelSource, StorageStatus, TokenEvent } from './api';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface EngineDeps {
  createContext: () => Promise<GpuContext>;
  /** The IndexedDB cache; null where there is none (downloads then simply are not cached). */
  openCache: () => Promise<ModelCache | null>;
  fetch: typeof fetch;
}

/** Progress messages cross the worker boundary: at most one per interval, plus the last one of each phase. */
const PROGRESS_INTERVAL_MS = 50;

/**
 * The host-side memory snapshot kept for a device loss is skipped above this size. A TTT model's state is constant
 * (0.8 MiB for the shipped TTT hybrid), so it is always kept; a KV model's cache grows with the context (the shipped
 * baseline reaches 48 MiB at its maxContext), and past this size copying it after every reply would cost more than
 * a lost device is worth (the memory then starts over).
 */
export const LOSS_SNAPSHOT_MAX_BYTES = 64 * 1024 * 1024;

/** A copy of the session's memory (Session.saveState) and the model it belongs to. */
interface MemorySnapshot {
  config: string;
  position: number;
  state: ArrayBuffer;
}

export class Engine implements EngineApi {
  private ctx: GpuContext | null = null;
  private session: Session | null = null;
  private info: ModelInfo | null = null;
  private abort: AbortController | null = null;
  /** Generated tokens the running generate() has sent to the page (what cancel() reports). */
  private tokensSent = 0;
  /** Made on the first feed() of a session; it binds the session's buffers, so it goes with the session. */
  private reader: TextReader | null = null;
  /** The session's memory after its last completed reply, read, reset or restore (for a device loss). */
  private snapshot: MemorySnapshot | null = null;
  /** The snapshot taken before the last device loss; load() with restoreAfterLoss puts it back. */
  private lostSnapshot: MemorySnapshot | null = null;
  private loading = false;
  private readonly errorListeners: ((e: EngineErrorEvent) => void)[] = [];
  /** Why caching a download failed, per cache key (the load itself succeeded: the model is in memory). */
  private readonly cacheWriteErrors = new Map<string, string>();
  private readonly deps: EngineDeps;

  constructor(deps: EngineDeps) {
    this.deps = deps;
  }

  /** Registers a listener for errors outside a call (GPU device loss). Wrap it with comlink's proxy(). */
  onError(listener: (e: EngineErrorEvent) => void): void {
    this.errorListeners.push(listener);
  }

  async load(source: ModelSource, onProgress?: (p: LoadProgress) => void, options: LoadOptions = {}): Promise<ModelInfo> {
    if (this.loading) throw new EngineError('busy', 'a model is already loading');
    if (this.abort) throw new EngineError('busy', 'cancel the running generation before loading another model');
    this.loading = true;
    try {
      const report = throttledProgress(onProgress);
      const { file, tensorTable, name, origin } = await this.readModel(source, report);
      const ctx = await this.context();
      // Refusals known from the config alone come before any upload, and leave the loaded model as it is.
      const problems = gpuSupportProblems(file.config, ctx.device.limits);
      if (problems.length > 0) throw new EngineError('unsupported', `${problems.join('; ')}.`);
      if (options.replace) this.dropSession();
      report({ phase: 'upload', bytes: 0, totalBytes: file.fileBytes }, true);
      // The loaded session keeps serving until the new one is created and warmed up (a transaction).
      const session = await this.createSession(ctx, file, name, () => report({ phase: 'compile', bytes: file.fileBytes, totalBytes: file.fileBytes }, true));
      const lost = this.lostSnapshot;
      this.dropSession();
      this.lostSnapshot = null;
      this.session = session;
      // What only See inside reads with compiles now, in the background, not inside the load the person waits for.
      void session.model.precompileDriftChunk();
      const stats = modelStats(file, tensorTable);
      this.info = {
        name,
        config: file.config,
        params: stats.params,
        ternaryParams: stats.ternaryParams,
        fileBytes: stats.fileBytes,
        bitsPerTernaryWeight: stats.bitsPerTernaryWeight,
        origin,
        adapter: ctx.adapterInfo,
      };
      if (options.restoreAfterLoss && lost && lost.config === JSON.stringify(file.config)) {
        session.restoreState(lost.state.slice(0));
        await ctx.device.queue.onSubmittedWorkDone();
        this.snapshot = lost;
        return { ...this.info, restoredPosition: session.position };
      }
      return this.info;
    } finally {
      this.loading = false;
    }
  }

  /**
   * Session.create and warmUp inside out-of-memory and validation error scopes: WebGPU reports those errors there,
   * not by throwing. On any failure the new session's buffers are freed before the error is thrown.
   */
  private async createSession(ctx: GpuContext, file: ModelFile, name: string, onCompile: () => void): Promise<Session> {
    const { device } = ctx;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let session: Session | null = null;
    let thrown: unknown = null;
    try {
      session = await Session.create(ctx, file);
      onCompile();
      await session.warmUp();
    } catch (e) {
      thrown = e;
    }
    const validation = await device.popErrorScope().catch(() => null);
    const outOfMemory = await device.popErrorScope().catch(() => null);
    if (!thrown && !validation && !outOfMemory) return session!;
    session?.destroy();
    if (this.ctx !== ctx) throw new EngineError('device-lost', `the GPU device was lost while loading "${name}"; load it again`, { cause: thrown });
    const weights = `${(file.fileBytes / (1024 * 1024)).toFixed(1)} MiB file`;
    if (outOfMemory) {
      if (this.session) {
        throw new EngineError(
          'memory-tight',
          `there is not enough GPU memory to hold "${name}" (${weights}) next to "${this.info?.name ?? 'the loaded model'}"; ` +
            `the loaded model is still here. Unload it first to try "${name}" alone (its conversation memory will be lost)`,
        );
      }
      throw new EngineError('out-of-memory', `the GPU ran out of memory while loading "${name}" (${weights}); close other GPU-heavy tabs or use a smaller model`);
    }
    if (validation) throw new EngineError('gpu-refused', `the GPU refused "${name}": ${validation.message}`);
    throw thrown;
  }

  /** Frees the session and everything bound to it (its text reader); its memory snapshot goes too. */
  private dropSession(): void {
    this.reader?.destroy();
    this.reader = null;
    this.session?.destroy();
    this.session = null;
    this.info = null;
    this.snapshot = null;
  }

  /** Copies the session's memory to the host, so that a device loss can put it back (LOSS_SNAPSHOT_MAX_BYTES). */
  private async takeSnapshot(session: Session): Promise<void> {
    const report = session.memoryReport();
    if (report.bytes['kv-cache'] + report.bytes['ttt-state'] > LOSS_SNAPSHOT_MAX_BYTES) {
      this.snapshot = null; // an older one would put back a conversation cut short without saying so
      return;
    }
    try {
      const state = await session.saveState();
      if (this.session === session) this.snapshot = { config: JSON.stringify(session.model.config), position: session.position, state };
    } catch {
      // The device went away while copying: the loss handler has kept the previous snapshot.
    }
  }

  async generate(prompt: string, params: SamplingParams, onToken?: (e: TokenEvent) => void, options: GenerateOptions = {}): Promise<GenerateResult> {
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'a generation is already running; cancel it first');
    this.refuseWhileLoading();
    const abort = new AbortController();
    this.abort = abort;
    this.tokensSent = 0;
    try {
      // Each event is a comlink call (~0.1 ms); the session waits for the page's reply to the previous token
      // before deciding on the next, so a busy page cannot fall behind by more than one token (Stop stays prompt).
      const forward = onToken
        ? (e: SessionTokenEvent) => {
            if (e.phase === 'generated') this.tokensSent++;
            const event: TokenEvent = { id: e.id, text: e.text, position: e.position, phase: e.phase };
            if (e.drift) event.drift = e.drift;
            return Promise.resolve(onToken(event)).catch(() => undefined);
          }
        : undefined;
      const result = await session.generate(prompt, params, forward, { signal: abort.signal, drift: options.drift });
      await this.takeSnapshot(session);
      return result;
    } catch (e) {
      if (this.ctx === null) throw new EngineError('device-lost', 'the GPU device was lost during generation; load the model again', { cause: e });
      throw e;
    } finally {
      this.abort = null;
    }
  }

  cancel(): number {
    this.abort?.abort();
    return this.abort ? this.tokensSent : 0;
  }

  async feed(text: string, options: FeedOptions, onProgress?: (p: FeedProgress) => void): Promise<FeedResult> {
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'a generation or reading is already running; cancel it first');
    this.refuseWhileLoading();
    const abort = new AbortController();
    this.abort = abort;
    this.tokensSent = 0;
    try {
      // One reader per session; dropSession() frees it with the session whose buffers it binds.
      this.reader ??= new TextReader(this.ctx!, session);
      // The token the last generate() sampled comes first in the stream.
      await session.flushPending();
      const forward = onProgress ? (p: FeedProgress) => void Promise.resolve(onProgress(p)).catch(() => undefined) : undefined;
      const result = await this.reader.feed(text, { ...options, signal: abort.signal }, forward);
      await this.takeSnapshot(session);
      return result;
    } finally {
      this.abort = null;
    }
  }

  async setMemory(on: boolean): Promise<void> {
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'cancel the running generation or reading before switching the memory');
    session.model.setMemory(on);
    await this.ctx?.device.queue.onSubmittedWorkDone();
  }

  async tttMatrix(layer: number, head: number): Promise<Float32Array> {
    return this.requireSession().model.tttMatrixDelta(layer, head);
  }

  async saveState(): Promise<ArrayBuffer> {
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'cancel the running generation before saving the state');
    this.refuseWhileLoading();
    const state = await session.saveState();
    return transfer(state, [state]);
  }

  async restoreState(data: ArrayBuffer): Promise<void> {
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'cancel the running generation before restoring a state');
    this.refuseWhileLoading();
    session.restoreState(data);
    await this.ctx?.device.queue.onSubmittedWorkDone();
    await this.takeSnapshot(session);
  }

  async reset(): Promise<void> {
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'cancel the running generation before resetting');
    this.refuseWhileLoading();
    session.reset();
    await this.ctx?.device.queue.onSubmittedWorkDone();
    await this.takeSnapshot(session);
  }

  stats(): EngineStats {
    const s = this.session;
    return { prefillTokensPerSecond: s?.prefillTokensPerSecond ?? 0, decodeTokensPerSecond: s?.decodeTokensPerSecond ?? 0, position: s?.position ?? 0 };
  }

  memoryReport(): MemoryReport {
    return this.requireSession().memoryReport();
  }

  debugLoseDevice(): void {
    // destroy() loses the device with reason 'destroyed'; ctx.onLost runs the same recovery as a driver reset.
    this.ctx?.device.destroy();
  }

  /** While a load runs its GPU error scopes are open: work on the old session would have its errors counted there. */
  private refuseWhileLoading(): void {
    if (this.loading) throw new EngineError('busy', 'a model is loading; wait until it is ready');
  }

  // ---- storage (the only code path to IndexedDB; the page asks through these) ----

  async listCachedModels(): Promise<CachedModelMeta[]> {
    const cache = await this.cacheOrNull();
    return cache ? cache.listModels() : [];
  }

  async cachedModel(key: string): Promise<CachedModelStatus> {
    const cache = await this.cacheOrNull();
    const meta = cache ? await cache.getModelMeta(key) : undefined;
    const writeError = this.cacheWriteErrors.get(key);
    return meta ? { meta } : writeError ? { writeError } : {};
  }

  async deleteCachedModel(key: string): Promise<void> {
    await (await this.requireCache()).deleteModel(key);
    this.cacheWriteErrors.delete(key);
  }

  async storageStatus(): Promise<StorageStatus> {
    const cache = await this.cacheOrNull();
    if (!cache) return { available: false, persisted: null, cleanedAtStart: 0, mergedAtStart: 0 };
    const [estimate, persisted, cleanedAtStart, mergedAtStart] = await Promise.all([
      cache.estimate().catch(() => undefined), cache.persisted().catch(() => null), cache.cleanedAtStart(), cache.mergedAtStart()]);
    return { available: true, usage: estimate?.usage, quota: estimate?.quota, persisted, cleanedAtStart, mergedAtStart };
  }

  async listSnapshots(modelKey: string): Promise<SnapshotMeta[]> {
    const cache = await this.cacheOrNull();
    return cache ? cache.listSnapshots(modelKey) : [];
  }

  async saveSnapshot(name: string, modelKey: string, transcript?: SnapshotTurn[]): Promise<SnapshotMeta> {
    const cache = await this.requireCache();
    this.refuseWhileLoading();
    const session = this.requireSession();
    if (this.abort) throw new EngineError('busy', 'cancel the running generation before saving the memory');
    return cache.saveSnapshot(name, modelKey, await session.saveState(), transcript);
  }

  async restoreSnapshot(name: string): Promise<SnapshotMeta> {
    this.requireSession();
    const cache = await this.requireCache();
    const { meta, data } = await cache.loadSnapshot(name);
    await this.restoreState(data);
    return meta;
  }

  async deleteSnapshot(name: string): Promise<void> {
    await (await this.requireCache()).deleteSnapshot(name);
  }

  private cacheOrNull(): Promise<ModelCache | null> {
    return this.deps.openCache().catch(() => null);
  }

  private async requireCache(): Promise<ModelCache> {
    const cache = await this.cacheOrNull();
    if (!cache) throw new EngineError('no-storage', 'this browser gives the page no IndexedDB storage (a private window?), so nothing can be saved');
    return cache;
  }

  private requireSession(): Session {
    if (!this.session) throw new EngineError('no-model', 'no model is loaded; call load() first');
    return this.session;
  }

  private async context(): Promise<GpuContext> {
    if (this.ctx) return this.ctx;
    const ctx = await this.deps.createContext();
    ctx.onLost((reason) => {
      if (this.ctx !== ctx) return;
      // Everything on the device is gone: forget it, so that the next load() starts on a fresh device. The host
      // copy of the memory survives for load() with restoreAfterLoss.
      this.ctx = null;
      this.lostSnapshot = this.snapshot ?? this.lostSnapshot;
      this.snapshot = null;
      this.reader = null;
      this.session = null;
      this.info = null;
      this.abort?.abort();
      const restorablePosition = this.lostSnapshot?.position ?? null;
      const event: EngineErrorEvent = { kind: 'device-lost', message: `The GPU device was lost (${reason}); the model is no longer loaded.`, restorablePosition };
      for (const listener of this.errorListeners) void Promise.resolve(listener(event)).catch(() => undefined);
    });
    this.ctx = ctx;
    return ctx;
  }

  private async readModel(source: ModelSource, report: ProgressReporter): Promise<{ file: ModelFile; tensorTable: { name: string; dtype: string; length: number }[]; name: string; origin: ModelInfo['origin'] }> {
    switch (source.kind) {
      case 'url': {
        const response = await this.deps.fetch(source.url).catch((e: unknown) => {
          throw new EngineError('download-failed', `could not download ${source.url}: ${(e as Error).message}`, { cause: e });
        });
        if (!response.ok || !response.body) throw new EngineError('download-failed', `could not download ${source.url}: HTTP ${response.status}`);
        const lengthHeader = Number(response.headers.get('content-length'));
        const expected = Number.isFinite(lengthHeader) && lengthHeader > 0 ? lengthHeader : undefined;
        const started = performance.now();
        const { model, bytes } = await readBtttStream(response.body, {
          totalBytes: expected,
          onProgress: (read, total) => {
            const seconds = (performance.now() - started) / 1000;
            report({ phase: 'download', bytes: read, totalBytes: total ?? read, rate: seconds > 0 ? read / seconds : 0 }, read === total);
          },
        });
        report({ phase: 'verify', bytes: bytes.length, totalBytes: bytes.length }, true);
        const cache = await this.deps.openCache().catch(() => null);
        // A full or unavailable cache must not fail the load: the model is in memory already. The reason is kept
        // for cachedModel(), so the page can say why the model will not load offline.
        const cacheKey = source.cacheKey ?? source.url;
        if (cache) {
          await cache.putModelBytes(cacheKey, bytes, { name: nameOf(source.url), source: source.url }).then(
            () => this.cacheWriteErrors.delete(cacheKey),
            (e: unknown) => this.cacheWriteErrors.set(cacheKey, e instanceof Error ? e.message : String(e)));
        }
        return { file: model, tensorTable: readBtttHeader(bytes).tensors, name: nameOf(source.url), origin: 'network' };
      }
      case 'cache': {
        const cache = await this.deps.openCache();
        if (!cache) throw new EngineError('cache-miss', 'no model cache is available in this browser');
        const meta = await cache.getModelMeta(source.cacheKey);
        if (!meta) throw new EngineError('cache-miss', `no cached model under "${source.cacheKey}"`);
        report({ phase: 'cache-read', bytes: 0, totalBytes: meta.bytes }, true);
        const buffer = await cache.getModelBytes(source.cacheKey);
        if (!buffer) throw new EngineError('cache-miss', `no cached model under "${source.cacheKey}"`);
        report({ phase: 'cache-read', bytes: buffer.byteLength, totalBytes: buffer.byteLength }, true);
        report({ phase: 'verify', bytes: buffer.byteLength, totalBytes: buffer.byteLength }, true);
        const { model, header } = parseBtttWithHeader(new Uint8Array(buffer));
        return { file: model, tensorTable: header.tensors, name: meta.name, origin: 'cache' };
      }
      case 'bytes': {
        report({ phase: 'verify', bytes: source.bytes.byteLength, totalBytes: source.bytes.byteLength }, true);
        const { model, header } = parseBtttWithHeader(new Uint8Array(source.bytes));
        return { file: model, tensorTable: header.tensors, name: source.name, origin: 'file' };
      }
    }
  }
}

type ProgressReporter = (p: LoadProgress, force?: boolean) => void;

function throttledProgress(onProgress: ((p: LoadProgress) => void) | undefined): ProgressReporter {
  let last = -Infinity;
  return (p, force = false) => {
    if (!onProgress) return;
    const now = performance.now();
    if (!force && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    void Promise.resolve(onProgress(p)).catch(() => undefined);
  };
}

function nameOf(url: string): string {
  const path = url.split(/[?#]/)[0];
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || url;
}
