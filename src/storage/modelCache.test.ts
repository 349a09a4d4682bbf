import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore, get, keys, set } from 'idb-keyval';
import { LocalLocks, ModelCache, ModelCacheError, sha256Hex, type EntryLocks } from './modelCache';

let dbCounter = 0;
function freshCache(options: { chunkBytes?: number; now?: () => number; staleWriteMs?: number; locks?: EntryLocks } = {}) {
  const dbName = `test-cache-${++dbCounter}`;
  return { cache: new ModelCache({ dbName, chunkBytes: 1024, ...options }), store: createStore(dbName, 'entries'), dbName };
}

function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

afterEach(() => vi.restoreAllMocks());

describe('ModelCache models', () => {
  it('stores a model in chunks and reads back the same bytes', async () => {
    const { cache, store } = freshCache();
    const bytes = patternBytes(5000, 1);
    const meta = await cache.putModelBytes('tiny', bytes, { name: 'Tiny', source: '/models/tiny.bttt' });
    expect(meta).toMatchObject({ key: 'tiny', name: 'Tiny', bytes: 5000, chunks: 5, chunkBytes: 1024, complete: true });
    expect(meta.sha256).toBe(await sha256Hex(bytes));
    const chunkKeys = (await keys(store)).map(String).filter((k) => k.startsWith('model-chunk:tiny:'));
    expect(chunkKeys).toHaveLength(5);
    for (const k of chunkKeys) expect(((await get(k, store)) as ArrayBuffer).byteLength).toBeLessThanOrEqual(1024);
    const back = new Uint8Array((await cache.getModelBytes('tiny'))!);
    expect(back).toEqual(bytes);
    expect((await cache.listModels()).map((m) => m.key)).toEqual(['tiny']);
  });

  it('returns undefined for an unknown key and deletes entries completely', async () => {
    const { cache, store } = freshCache();
    expect(await cache.getModelBytes('nope')).toBeUndefined();
    await cache.putModelBytes('a', patternBytes(3000, 2), { name: 'A' });
    await cache.deleteModel('a');
    expect(await cache.listModels()).toEqual([]);
    expect(await keys(store)).toEqual([]);
  });

  it('replacing an entry with a shorter one leaves no stale chunks', async () => {
    const { cache, store } = freshCache();
    await cache.putModelBytes('m', patternBytes(4000, 3), { name: 'M' });
    const smaller = patternBytes(1500, 4);
    await cache.putModelBytes('m', smaller, { name: 'M2' });
    const chunkKeys = (await keys(store)).map(String).filter((k) => k.startsWith('model-chunk:m:'));
    expect(chunkKeys.sort()).toEqual(['model-chunk:m:0', 'model-chunk:m:1']);
    expect(new Uint8Array((await cache.getModelBytes('m'))!)).toEqual(smaller);
  });

  it('a checksum mismatch deletes the entry and throws a clear error', async () => {
    const { cache, store } = freshCache();
    await cache.putModelBytes('bad', patternBytes(3000, 5), { name: 'Bad' });
    const chunk = new Uint8Array((await get<ArrayBuffer>('model-chunk:bad:1', store))!);
    chunk[10] ^= 0xff; // one flipped byte on "disk"
    await set('model-chunk:bad:1', chunk.buffer, store);
    const err = await cache.getModelBytes('bad').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelCacheError);
    expect((err as ModelCacheError).code).toBe('checksum-mismatch');
    expect((err as Error).message).toMatch(/corrupt/);
    expect(await cache.listModels()).toEqual([]);
    expect(await keys(store)).toEqual([]);
  });

  it('a missing chunk is reported and the entry removed', async () => {
    const { cache, store } = freshCache();
    await cache.putModelBytes('gap', patternBytes(3000, 6), { name: 'Gap' });
    const { del } = await import('idb-keyval');
    await del('model-chunk:gap:2', store);
    await expect(cache.getModelBytes('gap')).rejects.toMatchObject({ code: 'missing-chunk' });
    expect(await cache.hasModel('gap')).toBe(false);
  });

  it('a full quota throws quota-exceeded, removes the partial entry and keeps earlier models', async () => {
    const { cache, store } = freshCache();
    const first = patternBytes(2500, 7);
    await cache.putModelBytes('kept', first, { name: 'Kept' });
    // Let two more puts succeed (pending marker + first chunk), then the disk is "full".
    const realPut = IDBObjectStore.prototype.put;
    let allowed = 2;
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args) {
      if (allowed-- <= 0) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return realPut.apply(this, args);
    });
    const err = await cache.putModelBytes('big', patternBytes(10_000, 8), { name: 'Big' }).catch((e: unknown) => e);
    vi.restoreAllMocks();
    expect(err).toBeInstanceOf(ModelCacheError);
    expect((err as ModelCacheError).code).toBe('quota-exceeded');
    expect((err as Error).message).toMatch(/Not enough browser storage/);
    const left = (await keys(store)).map(String);
    expect(left.filter((k) => k.includes(':big'))).toEqual([]);
    expect((await cache.listModels()).map((m) => m.key)).toEqual(['kept']);
    expect(new Uint8Array((await cache.getModelBytes('kept'))!)).toEqual(first);
  });

  it('a write that never finished is not listed and is cleaned up on the next start', async () => {
    let clock = 1_000_000;
    const { cache, store, dbName } = freshCache({ now: () => clock });
    await cache.putModelBytes('done', patternBytes(1200, 9), { name: 'Done' });
    // Simulate a tab closed mid-download: a pending marker and some chunks, no meta.
    await set('model-pending:half', { startedAt: clock }, store);
    await set('model-chunk:half:0', new ArrayBuffer(1024), store);
    await set('model-chunk:orphan:0', new ArrayBuffer(10), store); // no marker at all
    expect((await cache.listModels()).map((m) => m.key)).toEqual(['done']);

    clock += 11 * 60_000; // the half write is now stale
    const restarted = new ModelCache({ dbName, chunkBytes: 1024, now: () => clock });
    expect((await restarted.listModels()).map((m) => m.key)).toEqual(['done']);
    const left = (await keys(store)).map(String).sort();
    expect(left).toEqual(['model-chunk:done:0', 'model-chunk:done:1', 'model-meta:done']);
  });

  it('keeps one copy per content: the same bytes stored under a second key replace the first key\'s copy', async () => {
    const { cache, store } = freshCache();
    const bytes = patternBytes(2500, 11);
    await cache.putModelBytes('/models/tiny.bttt', bytes, { name: 'tiny.bttt' });
    await cache.putModelBytes('other', patternBytes(1000, 12), { name: 'Other' });
    await cache.putModelBytes('tiny', bytes, { name: 'Tiny' });
    expect((await cache.listModels()).map((m) => m.key).sort()).toEqual(['other', 'tiny']);
    expect((await keys(store)).map(String).filter((k) => k.includes('/models/'))).toEqual([]);
    expect(new Uint8Array((await cache.getModelBytes('tiny'))!)).toEqual(bytes);
  });

  it('duplicates already in the store are merged at the next start, keeping the manifest id over the URL', async () => {
    const { cache, store, dbName } = freshCache();
    const bytes = patternBytes(2500, 13);
    await cache.putModelBytes('tiny', bytes, { name: 'Tiny' });
    // An earlier version stored the views' download under its URL: copy the entry by hand, as it left it.
    const meta = (await get<Record<string, unknown>>('model-meta:tiny', store))!;
    for (let i = 0; i < 3; i++) await set(`model-chunk:/models/tiny.bttt:${i}`, await get(`model-chunk:tiny:${i}`, store), store);
    await set('model-meta:/models/tiny.bttt', { ...meta, key: '/models/tiny.bttt', savedAt: (meta.savedAt as number) + 1 }, store);

    const restarted = new ModelCache({ dbName, chunkBytes: 1024 });
    expect((await restarted.listModels()).map((m) => m.key)).toEqual(['tiny']);
    expect(await restarted.mergedAtStart()).toBe(1);
    expect(await restarted.cleanedAtStart()).toBe(0);
    expect((await keys(store)).map(String).sort()).toEqual(['model-chunk:tiny:0', 'model-chunk:tiny:1', 'model-chunk:tiny:2', 'model-meta:tiny']);
    expect(new Uint8Array((await restarted.getModelBytes('tiny'))!)).toEqual(bytes);
  });

  it('rejects empty keys and empty data with typed errors', async () => {
    const { cache } = freshCache();
    await expect(cache.putModelBytes('', new Uint8Array(4), { name: 'x' })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(cache.putModelBytes('k', new ArrayBuffer(0), { name: 'x' })).rejects.toMatchObject({ code: 'invalid-argument' });
  });
});

describe('ModelCache snapshots', () => {
  it('saves, lists per model, loads and deletes named TTT-state snapshots', async () => {
    let clock = 10;
    const { cache } = freshCache({ now: () => clock++ });
    const state = new Float32Array([1.5, -2, 3.25, 0]).buffer;
    await cache.saveSnapshot('after story', 'tiny-ttt', state);
    await cache.saveSnapshot('other', 'tiny-kv', patternBytes(2100, 1));
    expect((await cache.listSnapshots('tiny-ttt')).map((s) => s.name)).toEqual(['after story']);
    expect((await cache.listSnapshots()).map((s) => s.name)).toEqual(['other', 'after story']);
    const { meta, data } = await cache.loadSnapshot('after story');
    expect(meta).toMatchObject({ modelKey: 'tiny-ttt', bytes: 16 });
    expect(Array.from(new Float32Array(data))).toEqual([1.5, -2, 3.25, 0]);
    await cache.deleteSnapshot('after story');
    await expect(cache.loadSnapshot('after story')).rejects.toMatchObject({ code: 'not-found' });
    expect(await cache.listModels()).toEqual([]); // snapshots never show up as models
  });

  it('keeps the conversation a memory had read with it, as plain turns, and refuses anything else', async () => {
    const { cache } = freshCache();
    const state = new Float32Array([1, 2]).buffer;
    const turn = { role: 'user' as const, text: 'Lily went to the park.', extra: { id: 7 } };
    await cache.saveSnapshot('with talk', 'tiny-ttt', state, [turn, { role: 'assistant', text: ' She saw a dog.' }]);
    const { meta } = await cache.loadSnapshot('with talk');
    expect(meta.transcript).toEqual([{ role: 'user', text: 'Lily went to the park.' }, { role: 'assistant', text: ' She saw a dog.' }]);
    await cache.saveSnapshot('without', 'tiny-ttt', state);
    expect((await cache.loadSnapshot('without')).meta.transcript).toBeUndefined();
    const bad = [{ role: 'note', text: 'x' }] as unknown as { role: 'user'; text: string }[];
    await expect(cache.saveSnapshot('bad', 'tiny-ttt', state, bad)).rejects.toMatchObject({ code: 'invalid-argument' });
    expect((await cache.listSnapshots('tiny-ttt')).map((s) => s.name).sort()).toEqual(['with talk', 'without']);
  });
});

describe('ModelCache across tabs (Web Locks)', () => {
  // Two ModelCache instances on one database with one lock manager that both see: two tabs' workers.
  function twoTabs() {
    const locks = new LocalLocks(true);
    const a = freshCache({ locks });
    const b = new ModelCache({ dbName: a.dbName, chunkBytes: 1024, locks });
    return { a: a.cache, b, store: a.store, locks };
  }

  it('two tabs caching the same key at once leave one complete entry and no stray chunks', async () => {
    const { a, b, store } = twoTabs();
    const big = patternBytes(9000, 11);
    const small = patternBytes(2100, 12); // e.g. a newer version of the file downloaded by the other tab
    const results = await Promise.allSettled([a.putModelBytes('m', big, { name: 'A' }), b.putModelBytes('m', small, { name: 'B' })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const back = new Uint8Array((await a.getModelBytes('m'))!);
    const winner = back.byteLength === big.byteLength ? big : small;
    expect(back).toEqual(winner);
    const meta = (await b.getModelMeta('m'))!;
    const expectedKeys = ['model-meta:m', ...Array.from({ length: meta.chunks }, (_, i) => `model-chunk:m:${i}`)].sort();
    expect((await keys(store)).map(String).sort()).toEqual(expectedKeys);
  });

  it('the second tab with the same bytes keeps the first one\'s entry instead of rewriting it', async () => {
    let clock = 100;
    const locks = new LocalLocks(true);
    const { cache: a, dbName, store } = freshCache({ locks, now: () => clock++ });
    const b = new ModelCache({ dbName, chunkBytes: 1024, locks, now: () => clock++ });
    const bytes = patternBytes(5000, 13);
    const [first, second] = await Promise.all([a.putModelBytes('same', bytes, { name: 'S' }), b.putModelBytes('same', bytes, { name: 'S' })]);
    expect(second.savedAt).toBe(first.savedAt); // one write; the other found it complete
    expect((await keys(store)).map(String).filter((k) => k.startsWith('model-chunk:same:'))).toHaveLength(5);
    expect(new Uint8Array((await b.getModelBytes('same'))!)).toEqual(bytes);
  });

  it('a read while another tab replaces the entry gets old or new bytes, never an error', async () => {
    const { a, b } = twoTabs();
    const v1 = patternBytes(6000, 14);
    const v2 = patternBytes(6000, 15);
    await a.putModelBytes('r', v1, { name: 'R' });
    const [, read] = await Promise.all([a.putModelBytes('r', v2, { name: 'R' }), b.getModelBytes('r')]);
    const got = new Uint8Array(read!);
    expect([v1, v2].some((v) => v.every((x, i) => x === got[i]) && v.length === got.length)).toBe(true);
    expect(new Uint8Array((await b.getModelBytes('r'))!)).toEqual(v2);
  });

  it('a half-written entry whose writer died is removed at the next start, however fresh; a live write is left alone', async () => {
    const clock = 5_000_000;
    const locks = new LocalLocks(true);
    const { cache, store, dbName } = freshCache({ locks, now: () => clock });
    await cache.putModelBytes('done', patternBytes(1200, 16), { name: 'Done' });
    // A tab killed a moment ago mid-write: its pending marker is brand new, but nobody holds its lock.
    await set('model-pending:dead', { startedAt: clock }, store);
    await set('model-chunk:dead:0', new ArrayBuffer(1024), store);
    await set('snap-chunk:dead-snap:0', new ArrayBuffer(8), store);
    // A tab that is writing right now holds the lock of its key.
    await set('model-pending:live', { startedAt: clock }, store);
    await set('model-chunk:live:0', new ArrayBuffer(1024), store);
    let releaseLive!: () => void;
    const liveHeld = new Promise<void>((held) => {
      void locks.request(`bit-ttt-cache:${dbName}:model:live`, { mode: 'exclusive' }, () => {
        held();
        return new Promise<void>((r) => (releaseLive = r));
      });
    });
    await liveHeld;

    const nextStart = new ModelCache({ dbName, chunkBytes: 1024, locks, now: () => clock });
    expect(await nextStart.cleanedAtStart()).toBe(2);
    expect((await keys(store)).map(String).sort()).toEqual(
      ['model-chunk:done:0', 'model-chunk:done:1', 'model-chunk:live:0', 'model-meta:done', 'model-pending:live']);
    releaseLive();
  });
});

describe('storage manager', () => {
  it('estimate() and persisted() degrade gracefully without navigator.storage', async () => {
    const { cache } = freshCache();
    vi.stubGlobal('navigator', {});
    expect(await cache.estimate()).toBeUndefined();
    expect(await cache.persisted()).toBeNull();
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ usage: 5, quota: 100 }), persisted: async () => true } });
    expect(await cache.estimate()).toEqual({ usage: 5, quota: 100 });
    expect(await cache.persisted()).toBe(true);
    vi.unstubAllGlobals();
  });

  it('a quota error says what was needed and what the browser allows', async () => {
    const { cache } = freshCache();
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ usage: 40 * 1024, quota: 64 * 1024 }) } });
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    });
    const err = await cache.putModelBytes('tiny-ttt', patternBytes(92_894, 17), { name: 'Tiny' }).catch((e: unknown) => e);
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
    expect((err as ModelCacheError).code).toBe('quota-exceeded');
    expect((err as Error).message).toBe('Not enough browser storage to cache "tiny-ttt" (it needs 90.7 KiB). ' +
      'The browser lets this site store 64.0 KiB, of which 40.0 KiB is in use. ' +
      'Delete cached models or free disk space; previously cached models are untouched.');
  });

  it('a quota error with room to spare in the estimate blames the disk instead of quoting the estimate', async () => {
    const { cache } = freshCache();
    vi.stubGlobal('navigator', { storage: { estimate: async () => ({ usage: 1024, quota: 10 * 2 ** 30 }) } });
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    });
    const err = await cache.putModelBytes('tiny-ttt', patternBytes(2000, 18), { name: 'Tiny' }).catch((e: unknown) => e);
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
    expect((err as Error).message).toBe('Not enough browser storage to cache "tiny-ttt" (it needs 2.0 KiB). ' +
      'The disk may be full, or the browser keeps less room for this site than it reports. ' +
      'Delete cached models or free disk space; previously cached models are untouched.');
  });
});
