// TextReader (reading a text for the "See inside" views) against the CPU reference on the tiny models.
import { test, expect, type Page } from '@playwright/test';
import type { FeedCheck, FeedHistoryCheck, LossCost } from './feed';
import { inHarness } from './in-harness';
import { DRIFT_RELATIVE_TOLERANCE } from '../../src/engine/reference/compare';
import { kvSlotsAfter } from '../../src/engine/model/kv-cache';

const TEXT = 'Once upon a time, a small fox found a red ball in the tall grass near the river.';

const checkInPage = (page: Page, name: string) => inHarness<FeedCheck>(page, 'feed.ts', 'checkFeed', name, TEXT);

for (const name of ['tiny-ttt', 'tiny-kv']) {
  test(`${name}: per-token loss, drift and memory of a read text match the reference`, async ({ page }) => {
    const r = await checkInPage(page, name);
    const sorted = [...r.lossDiffs].sort((a, b) => a - b);
    console.log(`${name}: ${r.tokens} tokens, ${r.tokensPerSecond.toFixed(1)} tokens/s, loss |Δ| median ${sorted[sorted.length >> 1].toExponential(2)} max ${sorted[sorted.length - 1].toExponential(2)}, drift max rel ${r.driftMaxRel.toExponential(2)}, matrix max |Δ| ${r.matrixMaxAbs.toExponential(2)}`);
    expect(r.tokens).toBe(TEXT.length); // byte-level tiny vocabulary: one token per ASCII character
    expect(r.firstLoss).toBeNull(); // nothing precedes the first token
    // The GPU logsumexp equals the loss computed on the CPU from the same step's full logits.
    expect(sorted[sorted.length - 1]).toBeLessThan(1e-5 * Math.max(...r.refLosses));
    expect(Math.min(...r.refLosses)).toBeGreaterThan(0);
    // One progress call per chunk. A growing KV cache (tiny-kv) ends a chunk at each report (every 16 tokens); a model
    // that allocates nothing while reading (tiny-ttt: TTT states and an SWA ring) reads whole chunks past them.
    const chunkTokens = name === 'tiny-kv' ? Math.min(16, r.maxChunkTokens) : r.maxChunkTokens;
    expect(r.progressCalls).toBe(Math.ceil(TEXT.length / chunkTokens));
    // Memory samples every 16 tokens plus the last.
    expect(r.memory.map((s) => s.tokens)).toEqual([16, 32, 48, 64, TEXT.length].filter((v, i, a) => v <= TEXT.length && a.indexOf(v) === i));
    for (const s of r.memory) expect(s.report.position).toBe(s.tokens);
    expect(r.cancelledReason).toBe('cancelled');
    expect(r.cancelledRead).toBe(Math.min(r.maxChunkTokens, TEXT.length)); // the chunk in flight when aborted
    if (name === 'tiny-ttt') {
      expect(r.driftMaxRel).toBeLessThanOrEqual(DRIFT_RELATIVE_TOLERANCE);
      // W0 moves only when a mini-batch starts (positions 16, 32, ...).
      r.w0ByPosition.forEach((w, p) => {
        if (p < 16) expect(w).toBe(0);
        else if (p % 16 !== 0) expect(w).toBe(r.w0ByPosition[p - 1]);
        else expect(w).not.toBe(r.w0ByPosition[p - 1]);
      });
      expect(r.matrixMaxAbs).toBeLessThan(1e-5);
      expect(r.matrixNorm).toBeCloseTo(r.lastNorm, 4);
      const ttt = r.memory.map((s) => s.report.bytes['ttt-state']);
      expect(new Set(ttt).size).toBe(1);
      // Reports inside a chunk: the same live buffers; the SWA ring (window 8) is full from token 8 on.
      expect(new Set(r.memory.map((s) => s.report.total)).size).toBe(1);
      expect(r.swaRingBytes).toBe(8 * 2 * 64 * 4); // 8 slots of k and v, d 64, f32
      for (const s of r.memory) expect(s.report.kvCache.inUse).toBe(r.swaRingBytes);
    } else {
      for (const s of r.memory) {
        expect(s.report.kvCache.inUse).toBe(2 * 3 * s.tokens * 64 * 4);
        expect(s.report.bytes['kv-cache']).toBe(2 * 3 * kvSlotsAfter(s.tokens, 8, 1024) * 64 * 4); // doubled from 8 slots
        expect(s.report.kvCache.allocated).toBe(s.report.bytes['kv-cache']);
      }
    }
  });
}

test('the per-token loss costs one small kernel: tokens/s with and without it (trained TTT model, vocab 4096)', async ({ page }) => {
  const r = await inHarness<LossCost>(page, 'feed.ts', 'measureLossCost', 'ttt-hybrid-d256', TEXT);
  console.log(`vocab ${r.vocab}: tokens/s with loss ${r.withLoss.map((v) => v.toFixed(1)).join(', ')}; without ${r.withoutLoss.map((v) => v.toFixed(1)).join(', ')}`);
  expect(r.lossesWhenOff.every((l) => l === null)).toBe(true);
  expect(r.lossesWhenOn.slice(1).every((l) => l !== null && l > 0)).toBe(true);
});

test('a reading stopped by cancel or a full context leaves only the ids it read in the penalty history', async ({ page }) => {
  const r = await inHarness<FeedHistoryCheck>(page, 'feed.ts', 'checkFeedHistory', TEXT);
  const [cancelled, full] = r.cases;
  expect(cancelled.stopReason).toBe('cancelled');
  expect(cancelled.read).toBe(Math.min(r.maxChunkTokens, cancelled.total)); // the first chunk
  expect(full.stopReason).toBe('context-full');
  expect(full.read).toBe(20);
  for (const c of r.cases) {
    expect(c.read).toBeLessThan(c.total);
    expect(c.history, c.name).toEqual(c.expected);
  }
});
