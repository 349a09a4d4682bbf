// Single kernels on random inputs against CPU computations (e2e/gpu/kernels.ts).
// Tolerances: bitlinear (integer sums, one f32 multiply) ≤ 1e-6 of max |y|; norms and the LM head (f32 sums on the
// GPU, f64 on the CPU) ≤ 1e-5; the embedding is a copy (0); the int8 quantiser agrees exactly on the GPU's floats.
// TTT and attention kernels are checked through whole-model parity with the reference (model.spec.ts).
import { test, expect } from '@playwright/test';
import { inHarness } from './in-harness';

test('kernels agree with CPU computations on random inputs', async ({ page }) => {
  const results = await inHarness<{ name: string; maxRelDiff: number; intMismatches: number }[]>(page, 'kernels.ts', 'checkKernels');
  const tolerance: Record<string, number> = { bitlinear: 1e-6, rms_norm_quant: 1e-5, swiglu_norm_quant: 1e-5, embed: 0, lm_head: 1e-5 };
  expect(results.map((r) => r.name).sort()).toEqual(Object.keys(tolerance).sort());
  for (const r of results) {
    console.log(`${r.name}: max relative diff ${r.maxRelDiff.toExponential(2)}, int8 mismatches ${r.intMismatches}`);
    expect(r.maxRelDiff, r.name).toBeLessThanOrEqual(tolerance[r.name]);
    expect(r.intMismatches, r.name).toBe(0);
  }
});
