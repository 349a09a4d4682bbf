// Not a test (skipped unless SAMPLER_LAB=1): the GPU sampler's time per token at several workgroup sizes.
//   SAMPLER_LAB=1 [SAMPLER_LAB_SIZES=64,16,4] [SAMPLER_LAB_VOCAB=4096] [SAMPLER_LAB_TOPK=40] PW_ONLY=gpu npx playwright test --project=gpu e2e/gpu/sampler-lab.spec.ts
import { test } from '@playwright/test';
import { inHarness } from './in-harness';

test('sampler lab: time per token by workgroup size', async ({ page }) => {
  test.skip(!process.env.SAMPLER_LAB, 'a measurement, not a test: set SAMPLER_LAB=1');
  test.setTimeout(900_000);
  const sizes = (process.env.SAMPLER_LAB_SIZES ?? '64,16,4').split(',').map(Number);
  const vocab = Number(process.env.SAMPLER_LAB_VOCAB ?? 4096);
  for (const topK of (process.env.SAMPLER_LAB_TOPK ?? '40,0').split(',').map(Number)) {
    const r = await inHarness<{ adapter: string; us: Record<number, number[]> }>(page, 'sampler-lab.ts', 'samplerLab', sizes, vocab, topK);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const base = med(r.us[sizes[0]]);
    console.log(`${r.adapter}; vocab ${vocab}, default sampling with topK ${topK}; µs per token, median of trials [min–max], ratio to workgroup ${sizes[0]}`);
    for (const wg of sizes) {
      const xs = r.us[wg];
      console.log(`  workgroup ${String(wg).padStart(3)}: ${med(xs).toFixed(0).padStart(7)} [${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}] ×${(base / med(xs)).toFixed(2)}`);
    }
  }
});
