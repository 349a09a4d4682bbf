// "See inside": the drift, memory and learning views on the tiny models. The assertions read the exported JSON, so
// they check what the engine measured (not what the page computed), and the screenshots for docs/ are taken here.
import { readFile } from 'node:fs/promises';
import { test, expect, type Page } from '@playwright/test';
import { BUILT_IN_STORY, STORIES } from '../../src/app/views/story';
import type { ViewsExport } from '../../src/app/lib/series';
import { kvSlotsAfter } from '../../src/engine/model/kv-cache';

const TINY = { layers: 3, d: 64, miniBatch: 16, kvMaxContext: 1024 }; // public/models/tiny-*.bttt (npm run inspect)
const READ_TIMEOUT = 170_000;
// Byte-level tiny vocabulary: one token per ASCII character (the stories without their <|endoftext|> separators,
// each of which is one token).
const PLAIN = STORIES.join('\n\n');
const TEXT_512 = PLAIN.slice(0, 512);

async function openViews(page: Page): Promise<void> {
  await page.setViewportSize({ width: 1500, height: 1100 });
  await page.goto('/?model=tiny-ttt#inside'); // the chat tab loads the tiny model, not the 3.4 MiB default
  await expect(page.getByTestId('views-read')).toBeVisible({ timeout: 60_000 });
}

async function readWith(page: Page, text: string, plan: { ttt: boolean; kv: boolean; twice: boolean; live?: boolean; memoryOff?: boolean }): Promise<void> {
  // The tiny test models, whatever the manifest lists first (trained models are slow on SwiftShader).
  await page.getByTestId('views-model-ttt').selectOption('tiny-ttt');
  await page.getByTestId('views-model-kv').selectOption('tiny-kv');
  await page.getByTestId('views-text').fill(text);
  await page.getByTestId('views-use-ttt').setChecked(plan.ttt);
  await page.getByTestId('views-use-kv').setChecked(plan.kv);
  await page.getByTestId('views-twice').setChecked(plan.twice);
  await page.getByTestId('views-memory-off').setChecked(plan.memoryOff ?? false);
  await page.getByTestId('views-live').setChecked(plan.live ?? true);
  await page.getByTestId('views-read').click();
  await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', /^(done|error)$/, { timeout: READ_TIMEOUT });
  await expect(page.getByTestId('views-error')).toHaveCount(0);
}

async function exportJson(page: Page): Promise<ViewsExport> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
  expect(download.suggestedFilename()).toBe('bit-ttt-views.json');
  return JSON.parse(await readFile(await download.path(), 'utf8')) as ViewsExport;
}

test('drift and memory views: TTT and KV read 512 tokens; the export is the engine’s own measurement', async ({ page }) => {
  test.setTimeout(300_000);
  await openViews(page);
  await readWith(page, TEXT_512, { ttt: true, kv: true, twice: false });
  await expect(page.getByTestId('kv-full')).toHaveCount(0); // 512 tokens fit the tiny KV model's maxContext
  const data = await exportJson(page);
  expect(data.format).toBe('bit-ttt-views');

  const ttt = data.readings.find((r) => r.arch === 'ttt')!;
  const kv = data.readings.find((r) => r.arch === 'kv')!;
  expect(ttt.positions).toHaveLength(512);
  expect(ttt.stopReason).toBe('done');

  // TTT state: the same bytes at 16 and at 512 tokens (and never zero).
  const tttAt = (t: number) => ttt.memory.find((m) => m.tokens === t)!.bytes['ttt-state'];
  expect(tttAt(16)).toBeGreaterThan(0);
  expect(tttAt(512)).toBe(tttAt(16));
  expect(new Set(ttt.memory.map((m) => m.bytes['ttt-state'])).size).toBe(1);

  // KV cache in use: exactly 2 × layers × T × d × 4 at every sample, all the way to 512 tokens; allocated: the
  // cache doubles from 8 slots when full (src/engine/model/kv-cache.ts), so 2 × layers × slots × d × 4.
  expect(kv.stopReason).toBe('done');
  expect(kv.positions).toHaveLength(512);
  expect(kv.memory.length).toBeGreaterThanOrEqual(512 / 16);
  for (const m of kv.memory) {
    expect(m.kvInUse).toBe(2 * TINY.layers * m.tokens * TINY.d * 4);
    expect(m.bytes['kv-cache']).toBe(2 * TINY.layers * kvSlotsAfter(m.tokens, 8, TINY.kvMaxContext) * TINY.d * 4);
  }
  expect(kv.memory.some((m) => m.bytes['kv-cache'] > m.kvInUse)).toBe(true); // e.g. 48 tokens in 64 slots
  expect(kv.memory.at(-1)!.tokens).toBe(512);
  expect(kv.memory.at(-1)!.bytes['kv-cache']).toBe(2 * TINY.layers * 512 * TINY.d * 4);
  console.log(`total GPU bytes at 512 tokens: TTT ${ttt.memory.at(-1)!.total} B, KV ${kv.memory.at(-1)!.total} B (allocated)`);
  await expect(page.getByTestId('kv-formula')).toContainText(`in use ${(2 * TINY.layers * 512 * TINY.d * 4).toLocaleString('en-US')} B (measured)`);
  // Block by block (the engine's per-layer report): tiny-ttt is ttt, swa (a ring of 8 slots), ttt; tiny-kv three
  // attention blocks of 512 filled slots each, 512 · 2 · d · 4 B = 256 KiB.
  const lastTtt = ttt.memory.at(-1)!.layers!;
  expect(lastTtt.map((l) => l.mixer)).toEqual(['ttt', 'swa', 'ttt']);
  expect(lastTtt[0].bytes['ttt-state'] + lastTtt[2].bytes['ttt-state']).toBe(tttAt(512));
  const cells = page.getByTestId('memory-blocks').getByRole('row');
  await expect(cells).toHaveCount(1 + 3);
  await expect(cells.nth(1)).toContainText(`TTT state ${(lastTtt[0].bytes['ttt-state'] / 1024).toFixed(1)} KiB`);
  await expect(cells.nth(2)).toContainText(`SWA ring ${(8 * 2 * TINY.d * 4 / 1024).toFixed(1)} KiB`);
  for (let i = 1; i <= 3; i++) await expect(cells.nth(i)).toContainText(`KV cache ${(512 * 2 * TINY.d * 4 / 1024).toFixed(1)} KiB`);

  // Drift: 0 before the first token, non-zero after it, for every head.
  expect(ttt.initialNorms!.length).toBe(ttt.heads.length);
  for (const h of ttt.initialNorms!) expect(h.norm).toBe(0);
  for (const h of ttt.heads) expect(h.values.norm[0]).toBeGreaterThan(0);

  // W0 moves only when a mini-batch starts: w0Norm is 0 in the first mini-batch and changes exactly at 16, 32, …
  for (const h of ttt.heads) {
    const w0 = h.values.w0Norm;
    for (let i = 0; i < TINY.miniBatch; i++) expect(w0[i]).toBe(0);
    for (let i = 1; i < w0.length; i++) {
      if (ttt.positions[i] % TINY.miniBatch === 0) expect(w0[i], `head ${h.layer}.${h.head} at ${i}`).not.toBe(w0[i - 1]);
      else expect(w0[i], `head ${h.layer}.${h.head} at ${i}`).toBe(w0[i - 1]);
    }
  }

  // Projections are marked computed; the KV one grows, the TTT one does not.
  const proj = (arch: string) => data.projections.find((p) => p.arch === arch)!.points;
  expect(proj('ttt').every((p) => p.computed && p.bytes === proj('ttt')[0].bytes)).toBe(true);
  expect(proj('kv')[2].bytes).toBeGreaterThan(proj('kv')[0].bytes);

  // Computed projections for known shapes (src/app/lib/projection.ts; hand-checked numbers in projection.test.ts):
  // the loaded pair from their own configs, BitNet 2B- and Llama 3 8B-shaped models, and a shape typed in.
  const row = (shape: string) => page.getByTestId('projection-row').and(page.locator(`[data-shape="${shape}"]`));
  await expect(row('pair')).toHaveAttribute('data-kv-per-token', String(2 * TINY.layers * TINY.d * 4));
  await expect(row('pair')).toHaveAttribute('data-kv-fill', String(Math.floor(8 * 2 ** 30 / (2 * TINY.layers * TINY.d * 4))));
  // The TTT model's constant state: its TTT state as measured above, plus the ring of its one sliding-window layer.
  await expect(row('pair')).toHaveAttribute('data-ttt-state', String(tttAt(512) + 2 * 8 * TINY.d * 4));
  await expect(row('BitNet b1.58 2B-shaped')).toHaveAttribute('data-kv-fill', '111848');
  await expect(row('Llama 3 8B-shaped')).toHaveAttribute('data-kv-fill', '65536');
  await expect(page.getByTestId('projection-formulas')).toContainText('2 (K and V) × layers × KV heads × f × KV bytes per value');
  for (const [field, value] of [['layers', 32], ['dModel', 4096], ['heads', 32], ['kvHeads', 8], ['kvBytesPerValue', 2]] as const) {
    await page.getByTestId(`shape-${field}`).fill(String(value));
  }
  await expect(row('own')).toHaveAttribute('data-kv-fill', '65536');
  await page.getByTestId('shape-kvHeads').fill('3');
  await expect(page.getByTestId('shape-error')).toContainText('KV heads 3 must divide heads 32');
  await expect(row('own')).toHaveCount(0);
  await page.getByTestId('shape-kvHeads').fill('8');

  // The readouts without a pointer: the token strip and each chart are sliders that the arrow keys move.
  const tokenStrip = page.getByTestId('token-strip');
  const readout = page.getByTestId('drift-readout');
  await tokenStrip.focus();
  await page.keyboard.press('End');
  const lastToken = Number(await tokenStrip.getAttribute('aria-valuemax'));
  await expect(tokenStrip).toHaveAttribute('aria-valuenow', String(lastToken));
  await expect(readout).toContainText(`token ${lastToken} `);
  await page.keyboard.press('ArrowLeft');
  await expect(readout).toContainText(`token ${lastToken - 1} `);
  await page.keyboard.press('Shift+ArrowLeft'); // a mini-batch back
  await expect(tokenStrip).toHaveAttribute('aria-valuenow', String(lastToken - 1 - TINY.miniBatch));
  await page.keyboard.press('Escape');
  await expect(readout).not.toContainText(/token \d+/);
  const chart = page.getByTestId('drift-chart').getByRole('slider');
  await chart.focus();
  await page.keyboard.press('Home');
  await expect(readout).toContainText(/token \d+/);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await expect(chart).toHaveAttribute('aria-valuenow', String(Number(await chart.getAttribute('aria-valuemin')) + 2));
  await page.keyboard.press('Escape');
  await chart.blur(); // no focus ring in the screenshots below

  // Screenshots for docs/VIEWS.md, with a token hovered so the readout shows its values.
  const strip = page.getByTestId('token-strip').locator('span');
  await strip.nth(Math.min(200, (await strip.count()) - 1)).hover();
  await expect(page.getByTestId('drift-readout')).toContainText('token');
  // The inner loss before → after is summed up in words computed from the chart's data.
  await expect(page.getByTestId('drift-notes')).toContainText(/The step (lowers|raises) layer \d+ head \d+'s inner loss/);
  await page.getByRole('region', { name: 'Drift of the TTT memory' }).screenshot({ path: 'docs/screenshots/views-drift.png' });
  await page.getByRole('region', { name: 'GPU memory: TTT against the KV baseline' }).screenshot({ path: 'docs/screenshots/views-memory.png' });
  await page.screenshot({ path: 'docs/screenshots/views-page.png' });

  // The CSV export has one row per token of both readings.
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  const rows = (await readFile(await csv.path(), 'utf8')).trim().split('\n');
  expect(rows[0].startsWith('model,arch,pass,position,id,text,loss,ms,l0h0_norm')).toBe(true);
  expect(rows).toHaveLength(1 + 512 + 512);
});

test('learning as it reads: both models read a text twice, the TTT model also with memory off; the means are exported', async ({ page }) => {
  test.setTimeout(300_000);
  await openViews(page);
  const text = PLAIN.slice(0, 120); // 2 × 120 tokens: a short read on SwiftShader
  await readWith(page, text, { ttt: true, kv: true, twice: true, memoryOff: true });
  await expect(page.getByTestId('learning-summary')).toContainText('tiny-ttt');
  const data = await exportJson(page);
  for (const model of ['tiny-ttt', 'tiny-kv']) {
    const passes = data.readings.filter((r) => r.model === model && !r.memoryOff).map((r) => r.pass);
    expect(passes).toEqual([1, 2]);
    const s = data.learning.find((l) => l.model === model && l.memory === 'on')!;
    expect(s.firstMean).toBeGreaterThan(0);
    expect(s.secondMean).toBeGreaterThan(0);
    expect(s.drop).toBeCloseTo(1 - s.secondMean! / s.firstMean!, 10);
    expect(s.dropNats).toBeCloseTo(s.firstMean! - s.secondMean!, 10);
    console.log(`${model}: mean loss first reading ${s.firstMean!.toFixed(4)}, second ${s.secondMean!.toFixed(4)}, drop ${(100 * s.drop!).toFixed(2)} %`);
  }
  // The second reading continues the stream: its positions follow the first's.
  const second = data.readings.find((r) => r.model === 'tiny-ttt' && r.pass === 2 && !r.memoryOff)!;
  expect(second.positions[0]).toBe(120);
  expect(second.loss[0]).not.toBeNull();

  // Memory off: only the TTT model reads again (twice, from a reset), and its state never leaves W_init — the
  // engine's own drift stats are 0 for every head and token — while its losses differ from memory on.
  const off = data.readings.filter((r) => r.memoryOff);
  expect(off.map((r) => [r.model, r.pass])).toEqual([['tiny-ttt', 1], ['tiny-ttt', 2]]);
  expect(off[0].positions[0]).toBe(0);
  for (const r of off) for (const h of r.heads) expect(Math.max(...h.values.norm)).toBe(0);
  const on = data.readings.find((r) => r.model === 'tiny-ttt' && r.pass === 1 && !r.memoryOff)!;
  expect(Math.max(...on.heads.map((h) => Math.max(...h.values.norm)))).toBeGreaterThan(0);
  const offSummary = data.learning.find((l) => l.model === 'tiny-ttt' && l.memory === 'off')!;
  const onSummary = data.learning.find((l) => l.model === 'tiny-ttt' && l.memory === 'on')!;
  expect(offSummary.secondMean).toBeGreaterThan(0);
  expect(offSummary.firstMean).not.toBeCloseTo(onSummary.firstMean!, 4);
  console.log(`tiny-ttt memory off: ${offSummary.firstMean!.toFixed(4)} → ${offSummary.secondMean!.toFixed(4)} nats/token`);
  await expect(page.getByTestId('learning-row')).toHaveCount(3);
  await expect(page.getByTestId('learning-row').first()).toContainText('%');
  await expect(page.getByTestId('memory-worth')).toContainText('tiny-ttt with memory off');
  // The sentences are computed from this reading: the sign they state is the sign measured.
  const drops = data.learning.filter((l) => l.drop !== null).map((l) => l.drop!);
  const sentence = page.getByTestId('learning-sentence');
  if (drops.every((d) => d <= 0)) await expect(sentence).toContainText('no model read the second time cheaper');
  else if (drops.every((d) => d > 0)) await expect(sentence).toContainText('Every model read the second time cheaper');
  else await expect(sentence).toContainText('only');
  await expect(page.getByTestId('memory-sentence')).toContainText(offSummary.firstMean! > onSummary.firstMean! ? 'higher' : 'lower');
  // The drift view shows the memory-on reading (the latest TTT reading with the memory learning).
  await page.getByRole('region', { name: 'Learning as it reads' }).screenshot({ path: 'docs/screenshots/views-learning.png' });
});

// A measurement, not a check of the code: a speed ratio on a shared machine is noise-bound (runs of identical code
// differ by as much as the effect, docs/VIEWS.md), so it does not gate CI. Only with VIEWS_LIVE_COST=1.
test('live charts cost: tokens/s of the TTT model reading 512 tokens with the views drawing and without', async ({ page }) => {
  test.skip(!process.env.VIEWS_LIVE_COST, 'set VIEWS_LIVE_COST=1 to measure the live-chart cost');
  test.setTimeout(300_000);
  await openViews(page);
  const rates: Record<string, number[]> = { live: [], off: [] };
  // Alternating runs so that load on the shared machine affects both settings alike; the first run warms up.
  await readWith(page, TEXT_512, { ttt: true, kv: false, twice: false, live: true });
  for (const live of [false, true, false, true]) {
    await readWith(page, TEXT_512, { ttt: true, kv: false, twice: false, live });
    const data = await exportJson(page);
    rates[live ? 'live' : 'off'].push(data.readings[0].tokensPerSecond!);
  }
  // Best of each setting: other work on the machine only ever slows a run down, so the best run is the cleanest.
  const slowdown = 1 - Math.max(...rates.live) / Math.max(...rates.off);
  console.log(`tokens/s with live charts ${rates.live.map((r) => r.toFixed(1)).join(', ')}; without ${rates.off.map((r) => r.toFixed(1)).join(', ')}; slowdown ${(slowdown * 100).toFixed(1)}%`);
  // The target is < 10%; the bound leaves room for the noise of a shared 2-core machine running SwiftShader.
  expect(slowdown).toBeLessThan(0.25);
});

// A measurement, not a check of the code: the trained models of the manifest read 500 characters twice (≈ 2 × 115
// BPE tokens, inside their training context of 256). Slow on SwiftShader, so only with VIEWS_TRAINED=1.
test('trained models: mean loss drop on the second reading', async ({ page }) => {
  test.skip(!process.env.VIEWS_TRAINED, 'set VIEWS_TRAINED=1 to measure the trained models');
  test.setTimeout(600_000);
  await openViews(page);
  await page.getByTestId('views-model-ttt').selectOption('ttt-hybrid-d256');
  await page.getByTestId('views-model-kv').selectOption('kv-d256');
  await page.getByTestId('views-text').fill(BUILT_IN_STORY.slice(0, 500));
  for (const id of ['views-use-ttt', 'views-use-kv', 'views-twice', 'views-memory-off']) await page.getByTestId(id).setChecked(true);
  await page.getByTestId('views-live').setChecked(false);
  await page.getByTestId('views-read').click();
  await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', /^(done|error)$/, { timeout: 560_000 });
  const data = await exportJson(page);
  for (const s of data.learning) {
    const r = data.readings.filter((x) => x.model === s.model && (x.memoryOff ? 'off' : 'on') === s.memory);
    console.log(`${s.model} (memory ${s.memory}): ${r[0].positions.length} tokens per reading, mean loss ${s.firstMean!.toFixed(4)} → ${s.secondMean!.toFixed(4)}, drop ${(100 * s.drop!).toFixed(1)} %; ${r.map((x) => x.tokensPerSecond!.toFixed(1)).join(' / ')} tokens/s`);
    expect(s.secondMean).not.toBeNull();
  }
});
