// Chunked prefill (GpuModel.encodeChunk) against the token-by-token path, on the tiny models and a trained one.
import { test, expect, type Page } from '@playwright/test';
import { inHarness } from './in-harness';
import type { PrefillParityResult } from './prefill';
import { DRIFT_RELATIVE_TOLERANCE, LOGIT_RELATIVE_TOLERANCE } from '../../src/engine/reference/compare';

const run = (page: Page, name: string, tokens: number, sizes: number[]) =>
  inHarness<PrefillParityResult>(page, 'prefill.ts', 'prefillParity', name, tokens, sizes);

function expectParity(r: PrefillParityResult): void {
  for (const c of r.chunks) {
    const worst = Math.max(...c.relative);
    console.log(`  chunk ${c.chunkSize}: worst relative ${worst.toExponential(2)}, identical ${c.identical}, drift max rel ${c.driftMaxRel.toExponential(2)}, last ${c.lastRelative.toExponential(2)}, ${c.ms.toFixed(0)} ms (token path ${r.tokenPathMs.toFixed(0)} ms)`);
    expect(c.relative).toHaveLength(r.tokens);
    expect(c.positionAfter).toBe(r.tokens);
    expect(c.argmaxDiffer).toBe(0);
    expect(worst).toBeLessThanOrEqual(LOGIT_RELATIVE_TOLERANCE);
    expect(c.lastRelative).toBeLessThanOrEqual(LOGIT_RELATIVE_TOLERANCE);
    expect(c.driftMaxRel).toBeLessThanOrEqual(DRIFT_RELATIVE_TOLERANCE);
  }
}

// Chunk sizes: 1 (the degenerate chunk), 5 and 37 (not aligned with the mini-batch of 16 nor the SWA window of 8),
// 16 (aligned); 40 tokens cross two mini-batch boundaries and wrap the SWA ring several times.
for (const name of ['tiny-ttt', 'tiny-kv', 'tiny-kv-conv']) {
  test(`${name}: chunked prefill equals the token path at chunk sizes 1, 5, 16, 37`, async ({ page }) => {
    const r = await run(page, name, 40, [1, 5, 16, 37]);
    console.log(`${name} (${r.adapter}):`);
    expectParity(r);
  });
}
