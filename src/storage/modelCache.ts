// IndexedDB cache of model files and named TTT-state snapshots (idb-keyval). DOM-free: it runs in the engine
// worker (which downloads and reads models) and on the page (which lists and deletes them).
//
// Layout in one object store, by key prefix:
//   model-chunk:<key>:<i>   ArrayBuffer, at most `chunkBytes` (1 MiB): never one huge value
//   model-pending:<key>     { startedAt } while a write is in progress
//   model-meta:<key>        CachedModelMeta, written LAST: an entry without it is unfinished and never listed
//   snap-chunk:<name>:<i>, snap-pending:<name>, snap-meta:<name>   the same for snapshots
// Every entry carries the SHA-256 of its bytes; a read that does not match deletes the entry and throws.
import { createStore, del, delMany, get, keys, set, type UseStore } from 'idb-keyval';

export type ModelCacheErrorCode =
  | 'quota-exceeded'    // the browser refused to store more; the partial entry was removed
  | 'checksum-mismatch' // stored bytes do not match their checksum; the entry was removed
  | 'missing-chunk'     // a chunk listed by the meta record is gone; the entry was removed
  | 'not-found'         // no complete entry under that key / name
  | 'invalid-argument'  // empty key, empty data, ...
  | 'storage-unavailable'; // no IndexedDB in this context (e.g. some private modes)

export class ModelCacheError extends Error {
  override readonly name = 'ModelCacheError';
  constructor(readonly code: ModelCacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The record of a chunked entry, written after its last chunk: its presence means the entry is complete. */
export interface ChunkedEntryMeta {
  bytes: number;
  chunks: number;
  chunkBytes: number;
  sha256: string;
  savedAt: number;
  complete: true;
}

export interface CachedModelMeta extends ChunkedEntryMeta {
  key: string;
  name: string;
  /** Where the bytes came from (a URL, or 'file' for a file the user opened). */
  source: string;
}

export interface SnapshotMeta extends ChunkedEntryMeta {
  name: string;
  /** Cache key (or name) of the model whose state this is: a snapshot only fits that model. */
  modelKey: string;
}

export interface StorageEstimateInfo {
  usage: number;
  quota: number;
}

export interface ModelCacheOptions {
  /** IndexedDB database name (tests use a fresh one each). */
  dbName?: string;
  /** Largest value written in one put. */
  chunkBytes?: number;
  /** A pending write older than this is considered abandoned (tab closed mid-download) and cleaned up. */
  staleWriteMs?: number;
  now?: () => number;
}

export const DEFAULT_CHUNK_BYTES = 1 << 20;
const DEFAULT_STALE_WRITE_MS = 10 * 60_000;

type Kind = 'model' | 'snap';
interface PendingRecord { startedAt: number }
interface EntryMeta { bytes: number; chunks: number; chunkBytes: number; sha256: string; savedAt: number; complete: true }

const metaKey = (kind: Kind, id: string) => `${kind}-meta:${id}`;
const pendingKey = (kind: Kind, id: string) => `${kind}-pending:${id}`;
const chunkKey = (kind: Kind, id: string, i: number) => `${kind}-chunk:${id}:${i}`;

export async function sha256Hex(data: ArrayBuffer | Uint8Array): Promise<string> {
  const view = data instanceof Uint8Array ? data : new Uint8Array(data);
  const digest = await crypto.subtle.digest('SHA-256', view as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function isQuotaError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: unknown; code?: unknown; inner?: unknown };
  // DOMException name in all current browsers; legacy code 22; Firefox used NS_ERROR_DOM_QUOTA_REACHED.
  return e.name === 'QuotaExceededError' || e.name === 'NS_ERROR_DOM_QUOTA_REACHED' || e.code === 22;
}

function asBytes(bytes: ArrayBuffer | Uint8Array): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
}

function describeBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export class ModelCache {
  private readonly store: UseStore;
  private readonly chunkBytes: number;
  private readonly staleWriteMs: number;
  private readonly now: () => number;
  private cleanup: Promise<void> | null = null;

  constructor(options: ModelCacheOptions = {}) {
    if (typeof indexedDB === 'undefined') {
      throw new ModelCacheError('storage-unavailable', 'IndexedDB is not available here, so models cannot be cached.');
    }
    this.store = createStore(options.dbName ?? 'bit-ttt-cache', 'entries');
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.staleWriteMs = options.staleWriteMs ?? DEFAULT_STALE_WRITE_MS;
    this.now = options.now ?? Date.now;
    if (!(this.chunkBytes > 0)) throw new ModelCacheError('invalid-argument', 'chunkBytes must be positive');
  }

  // ---- models ----

  /** Stores a model file. Replaces an existing entry under the same key. */
  async putModelBytes(key: string, bytes: ArrayBuffer | Uint8Array, meta: { name: string; source?: string }): Promise<CachedModelMeta> {
    const entry = await this.writeEntry('model', key, bytes);
    const record: CachedModelMeta = { key, name: meta.name, source: meta.source ?? 'unknown', ...entry };
    await this.finish('model', key, record);
    return record;
  }

  /** The cached bytes, verified against their checksum; undefined when nothing complete is cached under key. */
  async getModelBytes(key: string): Promise<ArrayBuffer | undefined> {
    const meta = await this.getModelMeta(key);
    if (!meta) return undefined;
    return this.readEntry('model', key, meta);
  }

  async getModelMeta(key: string): Promise<CachedModelMeta | undefined> {
    await this.ensureCleaned();
    const meta = await get<CachedModelMeta>(metaKey('model', key), this.store);
    return meta?.complete ? meta : undefined;
  }

  async hasModel(key: string): Promise<boolean> {
    return (await this.getModelMeta(key)) !== undefined;
  }

  /** Complete entries only, newest first. */
  async listModels(): Promise<CachedModelMeta[]> {
    return this.listMetas<CachedModelMeta>('model');
  }

  async deleteModel(key: string): Promise<void> {
    await this.deleteEntry('model', key);
  }

  // ---- TTT-state snapshots ----

  async saveSnapshot(name: string, modelKey: string, data: ArrayBuffer | Uint8Array): Promise<SnapshotMeta> {
    if (!modelKey) throw new ModelCacheError('invalid-argument', 'A snapshot needs the key of its model.');
    const entry = await this.writeEntry('snap', name, data);
    const record: SnapshotMeta = { name, modelKey, ...entry };
    await this.finish('snap', name, record);
    return record;
  }

  /** Complete snapshots, newest first; only those of `modelKey` when given. */
  async listSnapshots(modelKey?: string): Promise<SnapshotMeta[]> {
    const all = await this.listMetas<SnapshotMeta>('snap');
    return modelKey === undefined ? all : all.filter((s) => s.modelKey === modelKey);
  }

  async loadSnapshot(name: string): Promise<{ meta: SnapshotMeta; data: ArrayBuffer }> {
    await this.ensureCleaned();
    const meta = await get<SnapshotMeta>(metaKey('snap', name), this.store);
    if (!meta?.complete) throw new ModelCacheError('not-found', `No saved memory named "${name}".`);
    return { meta, data: await this.readEntry('snap', name, meta) };
  }

  async deleteSnapshot(name: string): Promise<void> {
    await this.deleteEntry('snap', name);
  }

  // ---- storage manager ----

  /** Usage and quota of this origin, when the browser reports them. */
  async estimate(): Promise<StorageEstimateInfo | undefined> {
    const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
    if (!storage?.estimate) return undefined;
    const e = await storage.estimate();
    return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
  }

  /** Asks the browser not to evict this origin's data. False when refused or unavailable (e.g. in a worker). */
  async requestPersistence(): Promise<boolean> {
    const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
    if (!storage?.persist) return false;
    if (storage.persisted && (await storage.persisted())) return true;
    return storage.persist();
  }

  /** Removes chunks of writes that never finished (tab closed, crash, quota). Runs once per instance by itself. */
  async cleanupIncomplete(): Promise<number> {
    const all = (await keys(this.store)).map(String);
    const present = new Set(all);
    const doomed: string[] = [];
    for (const kind of ['model', 'snap'] as const) {
      const chunkPrefix = `${kind}-chunk:`;
      const owners = new Set<string>();
      for (const k of all) {
        if (k.startsWith(chunkPrefix)) owners.add(k.slice(chunkPrefix.length, k.lastIndexOf(':')));
        else if (k.startsWith(`${kind}-pending:`)) owners.add(k.slice(`${kind}-pending:`.length));
      }
      for (const id of owners) {
        if (present.has(metaKey(kind, id))) {
          // Complete entry; a leftover pending marker (crash between the last two puts) is harmless: drop it.
          if (present.has(pendingKey(kind, id))) doomed.push(pendingKey(kind, id));
          continue;
        }
        const pending = await get<PendingRecord>(pendingKey(kind, id), this.store);
        // A fresh pending marker may be a write in progress in another context (worker vs page): leave it.
        if (pending && this.now() - pending.startedAt < this.staleWriteMs) continue;
        doomed.push(pendingKey(kind, id), ...all.filter((k) => k.startsWith(`${chunkPrefix}${id}:`)));
      }
    }
    const existing = doomed.filter((k) => present.has(k));
    if (existing.length) await delMany(existing, this.store);
    return existing.length;
  }

  // ---- internals ----

  private ensureCleaned(): Promise<void> {
    this.cleanup ??= this.cleanupIncomplete().then(() => undefined, () => undefined);
    return this.cleanup;
  }

  private async writeEntry(kind: Kind, id: string, data: ArrayBuffer | Uint8Array): Promise<EntryMeta> {
    if (!id) throw new ModelCacheError('invalid-argument', 'A cache entry needs a non-empty key.');
    const bytes = asBytes(data);
    if (bytes.byteLength === 0) throw new ModelCacheError('invalid-argument', `Refusing to cache "${id}": it is empty.`);
    await this.ensureCleaned();
    const sha256 = await sha256Hex(bytes);
    // Replace: the old entry goes first, so a failure below never leaves a meta pointing at mixed chunks.
    await this.deleteEntry(kind, id);
    const chunks = Math.ceil(bytes.byteLength / this.chunkBytes);
    try {
      await set(pendingKey(kind, id), { startedAt: this.now() } satisfies PendingRecord, this.store);
      for (let i = 0; i < chunks; i++) {
        // slice() copies, so each stored value is exactly one chunk, not a view of the whole file.
        const chunk = bytes.slice(i * this.chunkBytes, Math.min(bytes.byteLength, (i + 1) * this.chunkBytes)).buffer;
        await set(chunkKey(kind, id, i), chunk, this.store);
      }
    } catch (err) {
      await this.deleteEntry(kind, id).catch(() => undefined);
      if (isQuotaError(err)) {
        throw new ModelCacheError('quota-exceeded',
          `Not enough browser storage to cache "${id}" (${describeBytes(bytes.byteLength)}). ` +
          'Delete cached models or free disk space; previously cached models are untouched.', { cause: err });
      }
      throw err;
    }
    return { bytes: bytes.byteLength, chunks, chunkBytes: this.chunkBytes, sha256, savedAt: this.now(), complete: true };
  }

  private async finish(kind: Kind, id: string, record: EntryMeta): Promise<void> {
    try {
      await set(metaKey(kind, id), record, this.store);
    } catch (err) {
      await this.deleteEntry(kind, id).catch(() => undefined);
      if (isQuotaError(err)) {
        throw new ModelCacheError('quota-exceeded', `Not enough browser storage to finish caching "${id}".`, { cause: err });
      }
      throw err;
    }
    await del(pendingKey(kind, id), this.store);
  }

  private async readEntry(kind: Kind, id: string, meta: EntryMeta): Promise<ArrayBuffer> {
    const out = new Uint8Array(meta.bytes);
    let offset = 0;
    for (let i = 0; i < meta.chunks; i++) {
      const chunk = await get<ArrayBuffer>(chunkKey(kind, id, i), this.store);
      if (!chunk || offset + chunk.byteLength > meta.bytes) {
        await this.deleteEntry(kind, id);
        throw new ModelCacheError('missing-chunk', `Cached "${id}" is incomplete (chunk ${i} of ${meta.chunks} missing or oversized); it was removed.`);
      }
      out.set(new Uint8Array(chunk), offset);
      offset += chunk.byteLength;
    }
    const actual = offset === meta.bytes ? await sha256Hex(out) : 'short';
    if (actual !== meta.sha256) {
      await this.deleteEntry(kind, id);
      throw new ModelCacheError('checksum-mismatch',
        `Cached "${id}" is corrupt (checksum mismatch); it was removed and will be downloaded again.`);
    }
    return out.buffer;
  }

  private async deleteEntry(kind: Kind, id: string): Promise<void> {
    const prefix = `${kind}-chunk:${id}:`;
    const doomed = (await keys(this.store)).map(String)
      .filter((k) => k.startsWith(prefix) || k === metaKey(kind, id) || k === pendingKey(kind, id));
    // Meta first, so that a crash half-way leaves orphan chunks (cleaned up later), never a meta without chunks.
    if (doomed.includes(metaKey(kind, id))) await del(metaKey(kind, id), this.store);
    const rest = doomed.filter((k) => k !== metaKey(kind, id));
    if (rest.length) await delMany(rest, this.store);
  }

  private async listMetas<T extends { savedAt: number; complete: true }>(kind: Kind): Promise<T[]> {
    await this.ensureCleaned();
    const prefix = `${kind}-meta:`;
    const metaKeys = (await keys(this.store)).map(String).filter((k) => k.startsWith(prefix));
    const metas: (T | undefined)[] = await Promise.all(metaKeys.map((k) => get<T>(k, this.store)));
    return metas.filter((m): m is T => m?.complete === true).sort((a, b) => b.savedAt - a.savedAt);
  }
}

// ---- the shared default instance (created on first use, so importing never touches IndexedDB) ----

let defaultCache: ModelCache | null = null;
export function modelCache(): ModelCache {
  defaultCache ??= new ModelCache();
  return defaultCache;
}

export const putModelBytes = (key: string, bytes: ArrayBuffer | Uint8Array, meta: { name: string; source?: string }) =>
  modelCache().putModelBytes(key, bytes, meta);
export const getModelBytes = (key: string) => modelCache().getModelBytes(key);
export const getModelMeta = (key: string) => modelCache().getModelMeta(key);
export const hasModel = (key: string) => modelCache().hasModel(key);
export const listModels = () => modelCache().listModels();
export const deleteModel = (key: string) => modelCache().deleteModel(key);
export const saveSnapshot = (name: string, modelKey: string, data: ArrayBuffer | Uint8Array) =>
  modelCache().saveSnapshot(name, modelKey, data);
export const listSnapshots = (modelKey?: string) => modelCache().listSnapshots(modelKey);
export const loadSnapshot = (name: string) => modelCache().loadSnapshot(name);
export const deleteSnapshot = (name: string) => modelCache().deleteSnapshot(name);
export const estimate = () => modelCache().estimate();
export const requestPersistence = () => modelCache().requestPersistence();
