// The WebGPU engine against the trainer's golden vectors for both shipped models (every case, every position).
import { test, expect, type Page } from '@playwright/test';
import type { GoldenPosition, GoldenResult } from './golden';
import { inHarness } from './in-harness';

/** Tolerance per position: max |Δlogit| ≤ 1e-5 × the golden logit range (as src/engine/reference/golden.test.ts). */
const RELATIVE_TOLERANCE = 1e-5;

const goldenParity = (page: Page, name: string, positions: number) =>
  inHarness<GoldenResult>(page, 'golden.ts', 'goldenParity', name, positions);

const relative = (p: GoldenPosition) => p.maxAbs / p.range;

for (const name of ['ttt-hybrid-d256', 'kv-d256']) {
  test(`${name}: WebGPU logits match the golden vectors at every position (1e-5 of the range, or an int8 tie flip)`, async ({ page }) => {
    const r = await goldenParity(page, name, 10);
    let exactCases = 0;
    r.cases.forEach((positions, index) => {
      const rel = positions.map(relative);
      console.log(`${name} case ${index}: vs golden ${rel.map((v) => v.toExponential(1)).join(' ')}`);
      console.log(`${name} case ${index}: vs CPU reference ${positions.map((p) => (p.maxAbsVsReference / p.range).toExponential(1)).join(' ')}`);
      expect(positions.length).toBe(10);
      expect(positions.every((p) => p.argmaxEqual), 'greedy choice at every position').toBe(true);
      const firstOver = rel.findIndex((v) => v > RELATIVE_TOLERANCE);
      if (firstOver < 0) {
        exactCases++;
        return;
      }
      // An int8 tie flip (see golden.test.ts): exact first positions, one jump, a small persistent error after.
      // The GPU sums in f32 in another order than PyTorch and the CPU reference, so its BitLinear inputs sit ~1e-5
      // (in units of x·s_x) away from theirs; at d = 256 some 14k int8 roundings per token make such a flip likely
      // within a few tokens (seen on SwiftShader: the GPU equals the golden and the CPU reference to 4e-7 until it
      // flips, at position 1 or 2 of every case, then differs from both by a few 1e-3). The trained models are that sensitive on
      // the CPU too: the reference with tok_embed scaled by 1 ± 5e-7 (logits 1.6e-7 of the range apart at
      // position 0) flipped within 10 tokens in 3 of 8 sequences, by 1.9e-3 to 4.7e-3. The exactness of every kernel is
      // proven at 1e-5 on the tiny models (model.spec.ts); here: position 0 exact, then the flip signature. (Position 0
      // could flip on another GPU too: in kv-d256 the input of l3.ffn.w2 there is 9.5e-6 from a tie in PyTorch.)
      expect(firstOver, 'the first position agrees to f32 rounding').toBeGreaterThanOrEqual(1);
      expect(rel[firstOver], 'a tie flip is a jump, not a drift').toBeGreaterThan(1e-4);
      expect(Math.max(...rel), 'after a tie flip the error stays small').toBeLessThanOrEqual(2e-2);
    });
    console.log(`${name}: ${exactCases}/${r.cases.length} cases within ${RELATIVE_TOLERANCE} at every position, ${r.tokensPerSecond.toFixed(1)} tokens/s (${r.adapter})`);
  });
}
