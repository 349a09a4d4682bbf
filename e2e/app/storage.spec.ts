// The model cache as a person meets it: a full disk, a damaged entry, two tabs, a tab killed while saving. The page
// never opens IndexedDB (the worker does); these tests look into the store directly to set up and check each case.
import { statSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { setNumber, sendAndWait, waitReady, READY_TIMEOUT } from './helpers';

const DB = 'bit-ttt-cache';
const STORE = 'entries';
// The tiny KV model: these tests are about the cache, and it compiles in a third of the TTT model's time.
const MODEL = 'tiny-kv';
const MODEL_NAME = 'Tiny KV (tiny random test model)';

type StoreOp =
  | { op: 'keys' }
  | { op: 'verify'; key: string }        // a model entry re-read and re-hashed: complete and matching its checksum?
  | { op: 'flip'; key: string; at: number } // one byte of a stored chunk flipped "on disk"
  | { op: 'put'; key: string; value?: unknown; zeroBytes?: number }
  | { op: 'copy'; from: string; to: string } // a model entry copied under a second key, as an earlier version left it
  | { op: 'metas' };                          // every model record

/** One operation on the cache's object store, in the page (opened as idb-keyval opens it; no eval, so a CSP is fine). */
function inStore(page: Page, op: StoreOp): Promise<unknown> {
  return page.evaluate(async ({ db, store, op }) => {
    const open = indexedDB.open(db);
    open.onupgradeneeded = () => open.result.createObjectStore(store);
    const conn = await new Promise<IDBDatabase>((ok, fail) => { open.onsuccess = () => ok(open.result); open.onerror = () => fail(open.error); });
    const req = <R>(r: IDBRequest<R>) => new Promise<R>((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
    try {
      const tx = conn.transaction(store, op.op === 'put' || op.op === 'flip' || op.op === 'copy' ? 'readwrite' : 'readonly');
      const done = new Promise<void>((ok, fail) => { tx.oncomplete = () => ok(); tx.onerror = tx.onabort = () => fail(tx.error); });
      const s = tx.objectStore(store);
      let result: unknown;
      if (op.op === 'keys') result = (await req(s.getAllKeys())).map(String).sort();
      else if (op.op === 'metas') {
        const all = (await req(s.getAllKeys())).map(String).filter((k) => k.startsWith('model-meta:'));
        result = await Promise.all(all.map((k) => req(s.get(k))));
      } else if (op.op === 'copy') {
        const meta = await req(s.get(`model-meta:${op.from}`)) as { chunks: number; savedAt: number };
        for (let i = 0; i < meta.chunks; i++) await req(s.put(await req(s.get(`model-chunk:${op.from}:${i}`)), `model-chunk:${op.to}:${i}`));
        await req(s.put({ ...meta, key: op.to, savedAt: meta.savedAt + 1 }, `model-meta:${op.to}`));
      } else if (op.op === 'put') await req(s.put(op.zeroBytes !== undefined ? new ArrayBuffer(op.zeroBytes) : op.value, op.key));
      else if (op.op === 'flip') {
        const chunk = new Uint8Array(await req(s.get(op.key)) as ArrayBuffer);
        chunk[op.at] ^= 0xff;
        await req(s.put(chunk.buffer, op.key));
      } else {
        const meta = await req(s.get(`model-meta:${op.key}`)) as { sha256: string; chunks: number; bytes: number } | undefined;
        const chunks: ArrayBuffer[] = [];
        for (let i = 0; meta && i < meta.chunks; i++) chunks.push(await req(s.get(`model-chunk:${op.key}:${i}`)) as ArrayBuffer);
        await done;
        if (!meta) return { complete: false, checksumOk: false, chunks: 0 };
        const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
        const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (x) => x.toString(16).padStart(2, '0')).join('');
        return { complete: bytes.length === meta.bytes, checksumOk: sha === meta.sha256, chunks: chunks.length };
      }
      await done;
      return result;
    } finally {
      conn.close();
    }
  }, { db: DB, store: STORE, op });
}

const modelMetas = (page: Page) => inStore(page, { op: 'metas' }) as Promise<{ key: string; sha256: string; bytes: number }[]>;
const storeKeys = (page: Page) => inStore(page, { op: 'keys' }) as Promise<string[]>;
const verifyEntry = (page: Page, key: string) =>
  inStore(page, { op: 'verify', key }) as Promise<{ complete: boolean; checksumOk: boolean; chunks: number }>;

// On a failure, say where each page was (its load progress and notices), not only that it was not ready.
test.afterEach(async ({ context }, info) => {
  if (info.status === info.expectedStatus) return;
  for (const p of context.pages()) {
    const shown = await p.locator('[data-testid="load-progress"], [data-testid="engine-notice"], [role="alert"]').allTextContents().catch(() => []);
    console.log(`${p.url()}: ${JSON.stringify(shown)}`);
  }
});

async function chatStillWorks(page: Page): Promise<void> {
  await setNumber(page, 'setting-maxTokens', 4);
  const reply = await sendAndWait(page, 'Lily had a cat.');
  expect(reply.tokens).toBeGreaterThan(0);
}

test('a quota too small for the model is explained in words, and chat works from memory', async ({ page, baseURL }) => {
  const cdp = await page.context().newCDPSession(page);
  // 32 KiB for the whole site: the 91 KiB model cannot be stored (the service worker's precache cannot either).
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(baseURL!).origin, quotaSize: 32 * 1024 });
  await page.goto(`/?model=${MODEL}`);
  await waitReady(page);
  const notice = page.getByTestId('engine-notice');
  // (Chromium enforces the overridden quota but its estimate() still reports the real one, so the message blames
  // the disk rather than quoting an estimate that would contradict the refusal.)
  await expect(notice).toContainText(`${MODEL_NAME} is loaded and works, but it could not be saved in this browser: ` +
    `Not enough browser storage to cache "${MODEL}" (it needs ${(statSync(`public/models/${MODEL}.bttt`).size / 1024).toFixed(1)} KiB).`);
  await expect(notice).toContainText('It will be downloaded again next time and will not work offline.');
  await expect(page.getByTestId('cache-panel').getByTestId('cache-entry')).toHaveCount(0);
  expect((await storeKeys(page)).filter((k) => k.includes(MODEL))).toEqual([]); // nothing half-written left behind
  await chatStillWorks(page);
});

test('a cached model whose bytes no longer match their checksum is removed and downloaded again', async ({ page, context }) => {
  await page.goto(`/?model=${MODEL}`);
  await waitReady(page);
  await expect(page.getByTestId('cache-panel').getByTestId('cache-entry')).toHaveCount(1);
  // One flipped byte "on disk", in the stored chunk.
  await inStore(page, { op: 'flip', key: `model-chunk:${MODEL}:0`, at: 1000 });
  expect((await verifyEntry(page, MODEL)).checksumOk).toBe(false);

  const downloads: string[] = [];
  context.on('request', (r) => { if (r.url().endsWith('.bttt')) downloads.push(r.url()); });
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('engine-notice')).toContainText(
    `The cached copy of ${MODEL_NAME} could not be used (Cached "${MODEL}" is corrupt (checksum mismatch); it was removed`);
  await expect(page.getByTestId('engine-notice')).toContainText('downloading it again.');
  expect(downloads.filter((u) => u.endsWith(`/models/${MODEL}.bttt`))).toHaveLength(1);
  await expect(page.locator('.facts')).toContainText('from network');
  // Cached again, whole and sound.
  await expect(page.getByTestId('cache-panel').getByTestId('cache-entry')).toHaveCount(1);
  expect(await verifyEntry(page, MODEL)).toEqual({ complete: true, checksumOk: true, chunks: 1 });
  await chatStillWorks(page);
});

test('two tabs downloading the same model at once leave one complete entry, and both chat', async ({ page, context }) => {
  // Two tabs compile their shaders at once on SwiftShader's CPU: allow twice the usual wait for "ready".
  test.slow();
  // Hold both downloads until both tabs have asked, so that both really write the same key at the same time.
  let arrived = 0;
  let releaseBoth!: () => void;
  const bothAsked = new Promise<void>((r) => (releaseBoth = r));
  await context.route(`**/models/${MODEL}.bttt`, async (route) => {
    if (++arrived === 2) releaseBoth();
    await bothAsked;
    await route.continue();
  });
  const second = await context.newPage();
  await Promise.all([page.goto(`/?model=${MODEL}`), second.goto(`/?model=${MODEL}`)]);
  const bothReady = (tab: Page) => expect(tab.getByTestId('model-status')).toHaveText('ready', { timeout: 2 * READY_TIMEOUT });
  await Promise.all([bothReady(page), bothReady(second)]);
  expect(arrived).toBe(2);
  for (const tab of [page, second]) await expect(tab.locator('.facts')).toContainText('from network');

  const modelKeys = (await storeKeys(page)).filter((k) => k.includes(MODEL));
  expect(modelKeys).toEqual([`model-chunk:${MODEL}:0`, `model-meta:${MODEL}`]);
  expect(await verifyEntry(page, MODEL)).toEqual({ complete: true, checksumOk: true, chunks: 1 });
  // Each tab's load returned after its own write was over (the second found the first's entry and kept it).
  for (const tab of [page, second]) {
    await expect(tab.getByTestId('cache-panel').getByTestId('cache-entry')).toHaveCount(1);
    await chatStillWorks(tab);
  }
  await second.close();
});

test('a half-written entry left by a killed tab is cleaned at the next start', async ({ page }) => {
  // Seed the store from a same-origin page that is not the app, as a tab killed while saving would have left it: the
  // marker of a write started a moment ago and its first chunk, no record. (Its lock died with that tab.)
  await page.goto('/models/manifest.json');
  await inStore(page, { op: 'put', key: 'model-pending:tiny-kv', value: { startedAt: Date.now() } });
  await inStore(page, { op: 'put', key: 'model-chunk:tiny-kv:0', zeroBytes: 64 * 1024 });
  expect(await storeKeys(page)).toEqual(['model-chunk:tiny-kv:0', 'model-pending:tiny-kv']);

  await page.goto(`/?model=${MODEL}`);
  await waitReady(page);
  await expect(page.getByTestId('storage-cleaned')).toHaveText('Removed an unfinished download left by a tab that was closed while saving.');
  expect(await storeKeys(page)).toEqual([`model-chunk:${MODEL}:0`, `model-meta:${MODEL}`]);
  await expect(page.getByTestId('cache-panel').getByTestId('cache-entry')).toHaveCount(1);
});

test('a model used in the chat and in See inside is cached once, under its manifest id', async ({ page, context }) => {
  const downloads: string[] = [];
  context.on('request', (r) => { if (r.url().endsWith('.bttt')) downloads.push(r.url()); });
  await page.goto(`/?model=${MODEL}`);
  await waitReady(page);
  await page.getByTestId('tab-inside').click();
  await page.getByTestId('views-model-kv').selectOption(MODEL);
  await page.getByTestId('views-use-ttt').setChecked(false);
  await page.getByTestId('views-use-kv').setChecked(true);
  await page.getByTestId('views-text').fill('Lily had a cat. The cat was red.');
  await page.getByTestId('views-read').click();
  await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', 'done', { timeout: READY_TIMEOUT });
  await expect(page.getByTestId('views-error')).toHaveCount(0);

  // The views' worker found the chat's copy: one download, one entry, one copy of the bytes.
  expect(downloads.filter((u) => u.endsWith(`/models/${MODEL}.bttt`))).toHaveLength(1);
  const metas = await modelMetas(page);
  expect(metas.map((m) => m.key)).toEqual([MODEL]);
  expect(new Set(metas.map((m) => m.sha256)).size).toBe(metas.length);
  await page.getByTestId('tab-chat').click();
  const panel = page.getByTestId('cache-panel');
  await page.reload(); // the panel lists what the worker holds now
  await waitReady(page);
  await expect(panel.getByTestId('cache-entry')).toHaveCount(1);
  const size = statSync(`public/models/${MODEL}.bttt`).size;
  await expect(panel.getByTestId('cache-total')).toHaveText(`1 model · ${(size / 1024).toFixed(0)} KiB of model files`);
});

test('a model cached twice by an earlier version (id and URL) is merged at start, without a download', async ({ page, context }) => {
  await page.goto(`/?model=${MODEL}`);
  await waitReady(page);
  // What the chat and See inside of an earlier version left: the same bytes under the id and under the URL.
  await inStore(page, { op: 'copy', from: MODEL, to: `/models/${MODEL}.bttt` });
  expect((await modelMetas(page)).map((m) => m.key).sort()).toEqual([`/models/${MODEL}.bttt`, MODEL]);

  const downloads: string[] = [];
  context.on('request', (r) => { if (r.url().endsWith('.bttt')) downloads.push(r.url()); });
  await page.reload();
  await waitReady(page);
  await expect(page.locator('.facts')).toContainText('from cache');
  await expect(page.getByTestId('storage-merged')).toHaveText('Merged a model that was stored twice; each is now kept once.');
  expect(downloads).toEqual([]);
  expect(await storeKeys(page)).toEqual([`model-chunk:${MODEL}:0`, `model-meta:${MODEL}`]);
  expect(await verifyEntry(page, MODEL)).toEqual({ complete: true, checksumOk: true, chunks: 1 });
  await expect(page.getByTestId('cache-panel').getByTestId('cache-entry')).toHaveCount(1);
});
