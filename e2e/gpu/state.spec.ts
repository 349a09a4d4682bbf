// Repeated reads of the engine's state reuse their staging buffers: Session.saveState (before every chat message)
// and GpuModel.tttMatrixDelta (the heatmap), and what they read is right.
import { test, expect } from '@playwright/test';
import type { MatrixDeltaCheck, SaveStateCheck } from './state';
import { inHarness } from './in-harness';

for (const name of ['tiny-ttt', 'tiny-kv']) {
  test(`${name}: repeated saveState creates no buffers and the state round-trips`, async ({ page }) => {
    const r = await inHarness<SaveStateCheck>(page, 'state.ts', 'checkSaveState', name);
    console.log(`${name}: scratch ${r.scratchAfterFirst} B after the first save, ${r.scratchAfterLast} B after 5; continuation ${r.continuation.join(',')}`);
    expect(r.buffersCreated, 'buffers created by saves 2–5').toBe(0);
    expect(r.liveAfter).toEqual(r.liveBefore);
    expect(r.scratchAfterLast).toBe(r.scratchAfterFirst);
    // The pooled staging buffers are live (and counted as scratch) between saves.
    expect(r.liveBefore.some((l) => l.startsWith('scratch:scratch:model.readback:'))).toBe(true);
    expect(r.roundTripEqual, 'saves 1–5 equal, and a save after restoring equals the restored state').toBe(true);
    expect(r.changedBeforeRestore, 'generating changed the state (so the round trip proves something)').toBe(true);
    expect(new Set(r.continuation).size, 'the continuation is not one repeated id').toBeGreaterThan(2);
    expect(r.continuationAfterRestore).toEqual(r.continuation);
  });
}

test('tiny-ttt: tttMatrixDelta equals the reference, one submit per call, no buffers created', async ({ page }) => {
  const r = await inHarness<MatrixDeltaCheck>(page, 'state.ts', 'checkMatrixDelta');
  console.log(`tttMatrixDelta at positions ${r.positions.join(',')}: max |Δ| ${r.maxAbs.toExponential(2)} (entries up to ${r.maxRef.toExponential(2)}); ${r.submitsPerCall} submits per call`);
  expect(r.positions.length).toBe(5);
  expect(r.maxRef).toBeGreaterThan(1e-3); // the memory moved
  expect(r.maxAbs).toBeLessThan(1e-5);
  expect(r.submitsPerCall).toBe(1);
  expect(r.buffersCreated).toBe(0);
});
