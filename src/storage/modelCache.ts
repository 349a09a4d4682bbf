// IndexedDB cache of model files and named TTT-state snapshots (idb-keyval). DOM-free. Only the engine worker
// uses it: the page asks the worker (src/worker/api.ts), so one context per tab touches the store.
//
// Layout in one object store, by key prefix:
//   model-chunk:<key>:<i>   ArrayBuffer, at most `chunkBytes` (1 MiB): never one huge value
//   model-pending:<key>     { startedAt } while a write is in progress
//   model-meta:<key>        CachedModelMeta, written LAST: an entry without it is unfinished and never listed
//   snap-chunk:<name>:<i>, snap-pending:<name>, snap-meta:<name>   the same for snapshots
// Every entry carries the SHA-256 of its bytes; a read that does not match deletes the entry and throws.
//
// Several tabs (each with its own worker) share the store. Every write, delete and read of one entry holds a Web
// Lock named after it (exclusive to write or delete, shared to read), so two tabs caching the same model never
// interleave their chunks, and a reader never sees an entry being replaced. A lock dies with its tab, so an entry
// without its record whose lock is free was abandoned (tab killed mid-write) and is removed at the next start.
//
// One copy per content: storing a model drops every other model entry with the same SHA-256 (earlier versions keyed
// the chat's copy by manifest id and the "See inside" copy by URL), and the first use of a cache merges such
// duplicates left in the store, keeping the entry under a manifest id (a key that is not a path) over a URL's.
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

/** One turn of the conversation a saved memory had read (plain data: it is stored with the snapshot's meta). */
export interface SnapshotTurn {
  role: 'user' | 'assistant';
  text: string;
}

export interface SnapshotMeta extends ChunkedEntryMeta {
  name: string;
  /** Cache key (or name) of the model whose state this is: a snapshot only fits that model. */
  modelKey: string;
  /** The conversation this memory had read when it was saved, so a restore brings it back (absent: saved before). */
  transcript?: SnapshotTurn[];
}

export interface StorageEstimateInfo {
  usage: number;
  quota: number;
}

/** The part of the Web Locks API (navigator.locks) the cache uses. */
export interface EntryLocks {
  /** Runs `fn` holding the named lock; with `ifAvailable`, runs `fn(false)` at once when it is held elsewhere. */
  request<T>(name: string, options: { mode: 'shared' | 'exclusive'; ifAvailable?: boolean }, fn: (held: boolean) => Promise<T>): Promise<T>;
  /** True when every tab and worker of the origin sees these locks (Web Locks); false for the in-memory stand-in. */
  readonly crossContext: boolean;
}

export interface ModelCacheOptions {
  /** IndexedDB database name (tests use a fresh one each). */
  dbName?: string;
  /** Largest value written in one put. */
  chunkBytes?: number;
  /**
   * Without cross-context locks, a pending write older than this is considered abandoned (tab closed mid-write)
   * and cleaned up. With Web Locks a free lock already says so, whatever the age.
   */
  staleWriteMs?: number;
  now?: () => number;
  /** Entry locks; default navigator.locks where it exists, else locks that only this JavaScript context sees. */
  locks?: EntryLocks;
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

/** Same bytes: same SHA-256 and size. */
function sameContent(a: ChunkedEntryMeta, b: ChunkedEntryMeta): boolean {
  return a.sha256 === b.sha256 && a.bytes === b.bytes;
}

/** A key that is a URL or path (how earlier versions keyed the views' downloads), not a manifest id. */
function isPathKey(key: string): boolean {
  return key.includes('/');
}

function asBytes(bytes: ArrayBuffer | Uint8Array): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
}

function describeBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

async function storageEstimate(): Promise<StorageEstimateInfo | undefined> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!storage?.estimate) return undefined;
  const e = await storage.estimate();
  return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
}

/** The Web Locks API where this context has it (browsers: pages and workers). */
function webLocks(): EntryLocks | undefined {
  const locks = typeof navigator !== 'undefined' ? (navigator as { locks?: LockManager }).locks : undefined;
  if (!locks?.request) return undefined;
  return {
    crossContext: true,
    // LockManager.request resolves to the callback's result, whose promise it awaits: Promise<T>, not Promise<Promise<T>>.
    request: <T>(name: string, options: LockOptions, fn: (held: boolean) => Promise<T>) =>
      locks.request(name, options, (lock) => fn(lock !== null)) as unknown as Promise<T>,
  };
}

/**
 * Shared/exclusive locks seen only by this JavaScript context (Node tests, browsers without Web Locks). Waiters are
 * served in arrival order, so a writer is not starved by a stream of readers.
 */
export class LocalLocks implements EntryLocks {
  /** `crossContext` true only to stand in for Web Locks in tests (several caches in one context as several tabs). */
  constructor(readonly crossContext = false) {}
  private readonly state = new Map<string, { exclusive: boolean; shared: number; queue: { mode: 'shared' | 'exclusive'; grant: () => void }[] }>();

  async request<T>(name: string, options: { mode: 'shared' | 'exclusive'; ifAvailable?: boolean }, fn: (held: boolean) => Promise<T>): Promise<T> {
    let s = this.state.get(name);
    if (!s) this.state.set(name, (s = { exclusive: false, shared: 0, queue: [] }));
    const st = s;
    const free = () => !st.exclusive && (options.mode === 'shared' ? st.queue.length === 0 : st.shared === 0 && st.queue.length === 0);
    if (!free()) {
      if (options.ifAvailable) return fn(false);
      await new Promise<void>((grant) => st.queue.push({ mode: options.mode, grant }));
    } else if (options.mode === 'exclusive') st.exclusive = true;
    else st.shared++;
    try {
      return await fn(true);
    } finally {
      if (options.mode === 'exclusive') st.exclusive = false;
      else st.shared--;
      this.wake(name, st);
    }
  }

  private wake(name: string, st: { exclusive: boolean; shared: number; queue: { mode: 'shared' | 'exclusive'; grant: () => void }[] }): void {
    while (st.queue.length && !st.exclusive) {
      const next = st.queue[0];
      if (next.mode === 'exclusive') {
        if (st.shared > 0) break;
        st.exclusive = true;
      } else st.shared++;
      st.queue.shift();
      next.grant();
    }
    if (!st.exclusive && st.shared === 0 && st.queue.length === 0) this.state.delete(name);
  }
}

/** One stand-in per context, so that every ModelCache of this context sees the same locks. */
const localLocks = new LocalLocks();

export class ModelCache {
  private readonly store: UseStore;
  private readonly chunkBytes: number;
  private readonly staleWriteMs: number;
  private readonly now: () => number;
  private readonly locks: EntryLocks;
  private readonly dbName: string;
  private cleanup: Promise<{ removed: number; merged: number }> | null = null;

  constructor(options: ModelCacheOptions = {}) {
    if (typeof indexedDB === 'undefined') {
      throw new ModelCacheError('storage-unavailable', 'IndexedDB is not available here, so models cannot be cached.');
    }
    this.dbName = options.dbName ?? 'bit-ttt-cache';
    this.store = createStore(this.dbName, 'entries');
    this.locks = options.locks ?? webLocks() ?? localLocks;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.staleWriteMs = options.staleWriteMs ?? DEFAULT_STALE_WRITE_MS;
    this.now = options.now ?? Date.now;
    if (!(this.chunkBytes > 0)) throw new ModelCacheError('invalid-argument', 'chunkBytes must be positive');
  }

  // ---- models ----

  /**
   * Stores a model file. Replaces an existing entry under the same key, unless that entry already holds these very
   * bytes (another tab cached the same download first): then it is kept as it is.
   */
  async putModelBytes(key: string, bytes: ArrayBuffer | Uint8Array, meta: { name: string; source?: string }): Promise<CachedModelMeta> {
    const data = this.checkWritable(key, bytes);
    await this.ensureCleaned();
    const sha256 = await sha256Hex(data);
    return this.withLock('model', key, 'exclusive', async () => {
      const existing = await get<CachedModelMeta>(metaKey('model', key), this.store);
      if (existing?.complete && existing.sha256 === sha256 && existing.bytes === data.byteLength) return existing;
      const entry = await this.writeEntry('model', key, data, sha256);
      const record: CachedModelMeta = { key, name: meta.name, source: meta.source ?? 'unknown', ...entry };
      await this.finish('model', key, record);
      return record;
    }).then(async (record) => {
      // One copy per content: the same bytes under another key go (a copy in use by a reader is left for next start).
      for (const other of await this.listMetas<CachedModelMeta>('model')) {
        if (other.key !== key && sameContent(other, record)) await this.dropDuplicate(other.key, record);
      }
      return record;
    });
  }

  /** The cached bytes, verified against their checksum; undefined when nothing complete is cached under key. */
  async getModelBytes(key: string): Promise<ArrayBuffer | undefined> {
    await this.ensureCleaned();
    return this.withLock('model', key, 'shared', async () => {
      const meta = await get<CachedModelMeta>(metaKey('model', key), this.store);
      return meta?.complete ? this.readEntry('model', key, meta) : undefined;
    });
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
    await this.withLock('model', key, 'exclusive', () => this.deleteEntry('model', key));
  }

  // ---- TTT-state snapshots ----

  async saveSnapshot(name: string, modelKey: string, data: ArrayBuffer | Uint8Array, transcript?: SnapshotTurn[]): Promise<SnapshotMeta> {
    if (!modelKey) throw new ModelCacheError('invalid-argument', 'A snapshot needs the key of its model.');
    const turns = transcript?.map((t) => {
      if ((t.role !== 'user' && t.role !== 'assistant') || typeof t.text !== 'string') {
        throw new ModelCacheError('invalid-argument', 'A snapshot transcript holds user and assistant turns of text.');
      }
      return { role: t.role, text: t.text }; // plain copies: nothing else of the page's objects is stored
    });
    const bytes = this.checkWritable(name, data);
    await this.ensureCleaned();
    const sha256 = await sha256Hex(bytes);
    return this.withLock('snap', name, 'exclusive', async () => {
      const entry = await this.writeEntry('snap', name, bytes, sha256);
      const record: SnapshotMeta = { name, modelKey, ...entry, ...(turns ? { transcript: turns } : {}) };
      await this.finish('snap', name, record);
      return record;
    });
  }

  /** Complete snapshots, newest first; only those of `modelKey` when given. */
  async listSnapshots(modelKey?: string): Promise<SnapshotMeta[]> {
    const all = await this.listMetas<SnapshotMeta>('snap');
    return modelKey === undefined ? all : all.filter((s) => s.modelKey === modelKey);
  }

  async loadSnapshot(name: string): Promise<{ meta: SnapshotMeta; data: ArrayBuffer }> {
    await this.ensureCleaned();
    return this.withLock('snap', name, 'shared', async () => {
      const meta = await get<SnapshotMeta>(metaKey('snap', name), this.store);
      if (!meta?.complete) throw new ModelCacheError('not-found', `No saved memory named "${name}".`);
      return { meta, data: await this.readEntry('snap', name, meta) };
    });
  }

  async deleteSnapshot(name: string): Promise<void> {
    await this.withLock('snap', name, 'exclusive', () => this.deleteEntry('snap', name));
  }

  // ---- storage manager ----

  /** Usage and quota of this origin, when the browser reports them. */
  async estimate(): Promise<StorageEstimateInfo | undefined> {
    return storageEstimate();
  }

  /**
   * Whether the browser promised not to evict this origin's data; null where it cannot say. (Asking for it,
   * navigator.storage.persist(), exists only on the page, not in workers: the page does that itself.)
   */
  async persisted(): Promise<boolean | null> {
    const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
    return storage?.persisted ? storage.persisted() : null;
  }

  /**
   * Removes writes that never finished (tab killed mid-write, crash): chunks and pending markers without their
   * record. An entry whose lock someone holds is being written and is left alone; with locks that only this
   * context sees, a pending marker younger than `staleWriteMs` is too. Runs once per instance by itself, before
   * its first use; returns how many entries it removed.
   */
  async cleanupIncomplete(): Promise<number> {
    const all = (await keys(this.store)).map(String);
    const present = new Set(all);
    let removed = 0;
    for (const kind of ['model', 'snap'] as const) {
      const chunkPrefix = `${kind}-chunk:`;
      const owners = new Set<string>();
      for (const k of all) {
        if (k.startsWith(chunkPrefix)) owners.add(k.slice(chunkPrefix.length, k.lastIndexOf(':')));
        else if (k.startsWith(`${kind}-pending:`)) owners.add(k.slice(`${kind}-pending:`.length));
      }
      for (const id of owners) {
        if (present.has(metaKey(kind, id)) && !present.has(pendingKey(kind, id))) continue; // complete, nothing to do
        await this.locks.request(this.lockName(kind, id), { mode: 'exclusive', ifAvailable: true }, async (held) => {
          if (!held) return; // a live writer or reader has it
          // Look again under the lock: the entry may have been finished or removed since the listing.
          if (await get(metaKey(kind, id), this.store)) {
            // Complete; a leftover pending marker (crash between the last two puts) is harmless: drop it.
            await del(pendingKey(kind, id), this.store);
            return;
          }
          if (!this.locks.crossContext) {
            const pending = await get<PendingRecord>(pendingKey(kind, id), this.store);
            // Another context's write may be in progress, invisible to these locks: give it time.
            if (pending && this.now() - pending.startedAt < this.staleWriteMs) return;
          }
          await this.deleteEntry(kind, id);
          removed++;
        });
      }
    }
    return removed;
  }

  /**
   * Keeps one entry per content (SHA-256 and size): of model entries holding the same bytes, the one under a manifest
   * id (a key without '/') stays, else the newest; the others are deleted. Runs once per instance by itself, after
   * the clean-up; returns how many duplicate entries it removed. An entry someone is reading is left for next time.
   */
  async mergeDuplicates(): Promise<number> {
    const metas = await this.listMetasNow<CachedModelMeta>('model');
    const groups = new Map<string, CachedModelMeta[]>();
    for (const m of metas) {
      const id = `${m.sha256}:${m.bytes}`;
      groups.set(id, [...(groups.get(id) ?? []), m]);
    }
    let merged = 0;
    for (const group of groups.values()) {
      if (group.length < 2) continue;
      // listMetas is newest first: a stable sort keeps the newest of equally preferred keys first.
      const [keep, ...rest] = [...group].sort((a, b) => Number(isPathKey(a.key)) - Number(isPathKey(b.key)));
      for (const other of rest) if (await this.dropDuplicate(other.key, keep)) merged++;
    }
    return merged;
  }

  /** The clean-up that ran before this instance's first use: how many abandoned entries it removed. */
  async cleanedAtStart(): Promise<number> {
    return (await this.ensureCleaned()).removed;
  }

  /** How many duplicate copies of a model the first use of this instance merged (mergeDuplicates). */
  async mergedAtStart(): Promise<number> {
    return (await this.ensureCleaned()).merged;
  }

  // ---- internals ----

  private ensureCleaned(): Promise<{ removed: number; merged: number }> {
    this.cleanup ??= (async () => {
      const removed = await this.cleanupIncomplete().catch(() => 0);
      const merged = await this.mergeDuplicates().catch(() => 0);
      return { removed, merged };
    })();
    return this.cleanup;
  }

  /** Deletes `key` if it still holds the same content as `kept` and nobody is using it; true when it went. */
  private async dropDuplicate(key: string, kept: ChunkedEntryMeta): Promise<boolean> {
    return this.locks.request(this.lockName('model', key), { mode: 'exclusive', ifAvailable: true }, async (held) => {
      if (!held) return false;
      const now = await get<CachedModelMeta>(metaKey('model', key), this.store);
      if (!now?.complete || !sameContent(now, kept)) return false;
      await this.deleteEntry('model', key);
      return true;
    });
  }

  private lockName(kind: Kind, id: string): string {
    return `bit-ttt-cache:${this.dbName}:${kind}:${id}`;
  }

  private withLock<T>(kind: Kind, id: string, mode: 'shared' | 'exclusive', fn: () => Promise<T>): Promise<T> {
    return this.locks.request(this.lockName(kind, id), { mode }, () => fn());
  }

  private checkWritable(id: string, data: ArrayBuffer | Uint8Array): Uint8Array {
    if (!id) throw new ModelCacheError('invalid-argument', 'A cache entry needs a non-empty key.');
    const bytes = asBytes(data);
    if (bytes.byteLength === 0) throw new ModelCacheError('invalid-argument', `Refusing to cache "${id}": it is empty.`);
    return bytes;
  }

  /** Writes the chunks of one entry. The caller holds the entry's exclusive lock. */
  private async writeEntry(kind: Kind, id: string, bytes: Uint8Array, sha256: string): Promise<EntryMeta> {
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
      if (isQuotaError(err)) throw await this.quotaError(id, bytes.byteLength, err);
      throw err;
    }
    return { bytes: bytes.byteLength, chunks, chunkBytes: this.chunkBytes, sha256, savedAt: this.now(), complete: true };
  }

  private async finish(kind: Kind, id: string, record: EntryMeta): Promise<void> {
    try {
      await set(metaKey(kind, id), record, this.store);
    } catch (err) {
      await this.deleteEntry(kind, id).catch(() => undefined);
      if (isQuotaError(err)) throw await this.quotaError(id, record.bytes, err);
      throw err;
    }
    await del(pendingKey(kind, id), this.store);
  }

  /** The browser refused the write: say how much was needed and how much this site may use, in words. */
  private async quotaError(id: string, bytes: number, cause: unknown): Promise<ModelCacheError> {
    const e = await storageEstimate().catch(() => undefined);
    // The estimate explains the refusal only when it shows too little room; otherwise it is the disk (or a limit the
    // estimate does not show), and quoting gigabytes "available" would contradict the refusal.
    const room = e && e.quota > 0 && e.quota - e.usage < bytes
      ? ` The browser lets this site store ${describeBytes(e.quota)}, of which ${describeBytes(e.usage)} is in use.`
      : ' The disk may be full, or the browser keeps less room for this site than it reports.';
    return new ModelCacheError('quota-exceeded',
      `Not enough browser storage to cache "${id}" (it needs ${describeBytes(bytes)}).${room} ` +
      'Delete cached models or free disk space; previously cached models are untouched.', { cause });
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
    return this.listMetasNow<T>(kind);
  }

  /** listMetas without waiting for the start-up clean-up (which uses it). */
  private async listMetasNow<T extends { savedAt: number; complete: true }>(kind: Kind): Promise<T[]> {
    const prefix = `${kind}-meta:`;
    const metaKeys = (await keys(this.store)).map(String).filter((k) => k.startsWith(prefix));
    const metas: (T | undefined)[] = await Promise.all(metaKeys.map((k) => get<T>(k, this.store)));
    return metas.filter((m): m is T => m?.complete === true).sort((a, b) => b.savedAt - a.savedAt);
  }
}
