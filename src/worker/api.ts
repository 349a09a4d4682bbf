// The contract between the page and the engine worker (exposed with comlink). The UI imports only this
// file's types and `createEngineClient` (src/worker/client.ts); it never sees WGSL or GPU objects.
import type { LayerDrift, MemoryReport, ModelConfig, SamplingParams } from '../engine/types';
import type { FeedProgress, FeedResult } from '../engine/feed';
import type { CachedModelMeta, SnapshotMeta, SnapshotTurn } from '../storage/modelCache';

export type { FeedMemorySample, FeedProgress, FeedResult, FeedToken } from '../engine/feed';
export type { CachedModelMeta, SnapshotMeta, SnapshotTurn } from '../storage/modelCache';

export type ModelSource =
  | { kind: 'url'; url: string; cacheKey?: string }   // fetched with progress, then cached in IndexedDB
  | { kind: 'bytes'; bytes: ArrayBuffer; name: string } // a file the user opened
  | { kind: 'cache'; cacheKey: string };                // already in IndexedDB

export interface LoadProgress {
  phase: 'download' | 'cache-read' | 'verify' | 'upload' | 'compile';
  bytes: number;
  totalBytes: number;
  /** Bytes per second over the download so far (download phase only). */
  rate?: number;
}

/**
 * The `code` of an error a call rejects with (kept across the worker boundary by src/worker/errors.ts):
 * - 'unsupported': this GPU engine cannot run the model (head size, vocabulary, a buffer over the device's limit);
 *   nothing changed, the previous model is still loaded.
 * - 'memory-tight': the new model does not fit in GPU memory next to the loaded one, which is still loaded and
 *   answering; load again with `{ replace: true }` to drop it first (after asking the person).
 * - 'out-of-memory' / 'gpu-refused': the GPU ran out of memory / refused the model with nothing else to drop.
 * - 'no-storage': the browser gives the worker no IndexedDB (a private window?), so nothing can be saved.
 * - 'device-lost', 'no-model', 'busy', 'cache-miss', 'download-failed': as named.
 */
export type EngineErrorCode =
  | 'no-model' | 'device-lost' | 'busy' | 'cache-miss' | 'download-failed' | 'no-storage'
  | 'unsupported' | 'memory-tight' | 'out-of-memory' | 'gpu-refused';

export interface LoadOptions {
  /**
   * Free the loaded model before creating the new one. Without it a load is a transaction: the loaded model keeps
   * serving until the new one is created and warmed up, and stays loaded if the new one fails.
   */
  replace?: boolean;
  /** Put back the memory snapshot taken before the last GPU device loss, if it belongs to this model. */
  restoreAfterLoss?: boolean;
}

export interface ModelInfo {
  name: string;
  config: ModelConfig;
  params: number;
  ternaryParams: number;
  fileBytes: number;
  bitsPerTernaryWeight: number;
  origin: 'network' | 'cache' | 'file';
  adapter: string;
  /** With `restoreAfterLoss`: the position of the memory put back (absent when there was nothing to restore). */
  restoredPosition?: number;
}

export interface TokenEvent {
  /** Token id and its decoded text (may be '' while a multi-byte character is incomplete). */
  id: number;
  text: string;
  /** Position of the token in the model's stream since the last reset. */
  position: number;
  /** 'prompt' while prefilling, 'generated' while decoding. */
  phase: 'prompt' | 'generated';
  /** Per TTT layer and head; absent for models without TTT layers or when not asked for. */
  drift?: LayerDrift[];
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  promptTokens: number;
  stopReason: 'eot' | 'max-tokens' | 'cancelled' | 'context-full';
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface EngineStats {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  position: number;
}

export interface GenerateOptions {
  /** Stream drift statistics with each token (costs one small readback per token). */
  drift?: boolean;
}

/** What feed() reads back per token (see src/engine/feed.ts). */
export interface FeedOptions {
  /** Drift stats per TTT layer and head with each token. */
  drift?: boolean;
  /** The model's loss on each token, −ln p given the prefix (default true). */
  loss?: boolean;
  /** A memory report every this many tokens (and after the last); 0 or absent: none. */
  memoryEvery?: number;
}

/** An error outside a call's promise, e.g. GPU device loss; after 'device-lost' the UI calls load() again. */
export interface EngineErrorEvent {
  kind: 'device-lost' | 'load-failed';
  message: string;
  /** 'device-lost': position of the last memory snapshot a reload can put back; null when there is none. */
  restorablePosition?: number | null;
}

/** The browser storage the worker's cache lives in (the page never opens IndexedDB itself). */
export interface StorageStatus {
  /** False where the worker has no IndexedDB (some private modes): models load but are not cached. */
  available: boolean;
  /** Bytes this origin uses and may use, when the browser says. */
  usage?: number;
  quota?: number;
  /** Whether the browser promised not to evict this origin's data; null where it cannot say. */
  persisted: boolean | null;
  /** Unfinished entries (a tab closed mid-write) that this worker removed when it first opened the cache. */
  cleanedAtStart: number;
  /** Duplicate copies of a cached model (the same bytes under two keys) that this worker merged into one at start. */
  mergedAtStart: number;
}

/** What the cache holds under one key, and why this worker's last attempt to store it failed, if it did. */
export interface CachedModelStatus {
  meta?: CachedModelMeta;
  /** E.g. the quota message; absent when this worker never failed to cache that key. */
  writeError?: string;
}

export interface EngineApi {
  /** Loads a model (a transaction unless `options.replace`; see LoadOptions). */
  load(source: ModelSource, onProgress?: (p: LoadProgress) => void, options?: LoadOptions): Promise<ModelInfo>;
  /** Appends the prompt to the model's stream (the TTT state keeps reading), then samples a reply. */
  generate(prompt: string, params: SamplingParams, onToken?: (e: TokenEvent) => void, options?: GenerateOptions): Promise<GenerateResult>;
  /**
   * Stops a running generate() (or feed()) after the token in flight. Returns how many tokens the running
   * generate() had sent when the stop arrived (0 if none was running): it sends at most one more.
   */
  cancel(): number;
  /** Forget everything read: TTT state back to W_init, KV cache emptied, position 0. */
  reset(): Promise<void>;
  stats(): EngineStats;
  memoryReport(): MemoryReport;
  /** Reads `text` into the model's stream (no sampling), reporting per token as it goes; cancel() stops it. */
  feed(text: string, options: FeedOptions, onProgress?: (p: FeedProgress) => void): Promise<FeedResult>;
  /**
   * Memory off / on for a TTT model: its TTT layers read with the inner learning rate × 0 (the state stays at
   * W_init after a reset). A setting of the loaded model, kept across reset(); refused for a model without TTT layers.
   */
  setMemory(on: boolean): Promise<void>;
  /** W̄ − W_init of one TTT head after the last token, f×f row-major (rows index k's dimensions). */
  tttMatrix(layer: number, head: number): Promise<Float32Array>;
  /** Everything the model has read (TTT states, KV caches, sampler history) as bytes, for snapshots and regenerate. */
  saveState(): Promise<ArrayBuffer>;
  /** Puts back a saveState() of the same model (a typed SessionStateError otherwise). */
  restoreState(data: ArrayBuffer): Promise<void>;
  /** Registers a listener (wrapped with comlink's proxy()) for errors outside a call, such as GPU device loss. */
  onError(listener: (e: EngineErrorEvent) => void): void;
  /**
   * Destroys this worker's GPU device, as a driver reset would: the recovery path (onError 'device-lost', load with
   * restoreAfterLoss) can then be exercised by tests and by a curious person from the console. Harmless beyond
   * what a real loss does; the page exposes it only when opened with ?test-hooks.
   */
  debugLoseDevice(): void;

  // ---- storage: the worker alone reads and writes IndexedDB; the page asks through these ----
  /** Complete cached models, newest first. */
  listCachedModels(): Promise<CachedModelMeta[]>;
  cachedModel(key: string): Promise<CachedModelStatus>;
  deleteCachedModel(key: string): Promise<void>;
  storageStatus(): Promise<StorageStatus>;
  /** Saved TTT memories of one model, newest first. */
  listSnapshots(modelKey: string): Promise<SnapshotMeta[]>;
  /**
   * Saves the loaded model's state (saveState()) under `name` with the conversation it has read (`transcript`, kept
   * in the snapshot's meta); the state stays in the worker, no bytes cross to the page.
   */
  saveSnapshot(name: string, modelKey: string, transcript?: SnapshotTurn[]): Promise<SnapshotMeta>;
  /** Puts a saved memory back into the loaded model (restoreState()); its meta carries the saved transcript. */
  restoreSnapshot(name: string): Promise<SnapshotMeta>;
  deleteSnapshot(name: string): Promise<void>;
}
