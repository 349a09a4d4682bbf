// The WebGPU engine against the trainer's golden vectors for both shipped models (every case, every position).
import { test, expect, type Page } from '@playwright/test';
import type { GoldenPosition, GoldenResult } from './golden';
import { inHarness } from './in-harness';
import { describeParity, LOGIT_RELATIVE_TOLERANCE, tieFlipProblems } from '../../src/engine/reference/compare';
import { NEAR_TIE_DISTANCE } from '../../src/engine/reference/model';

const goldenParity = (page: Page, name: string, positions: number) =>
  inHarness<GoldenResult>(page, 'golden.ts', 'goldenParity', name, positions);

const relative = (p: GoldenPosition) => p.maxAbs / p.range;

for (const name of ['ttt-hybrid-d256', 'kv-d256']) {
  test(`${name}: WebGPU logits match the golden vectors at every position (1e-5 of the range, or an int8 tie flip)`, async ({ page }) => {
    const r = await goldenParity(page, name, 10);
    let exactCases = 0;
    r.cases.forEach((positions, index) => {
      const parity = positions.map((p) => ({ relative: relative(p), tieDistance: p.tieDistance }));
      console.log(`${name} case ${index}: vs golden (* near-tie) ${describeParity(parity, NEAR_TIE_DISTANCE)}`);
      console.log(`${name} case ${index}: vs CPU reference ${positions.map((p) => (p.maxAbsVsReference / p.range).toExponential(1)).join(' ')}`);
      expect(positions.length).toBe(10);
      expect(positions.every((p) => p.argmaxEqual), 'greedy choice at every position').toBe(true);
      if (parity.every((p) => p.relative <= LOGIT_RELATIVE_TOLERANCE)) exactCases++;
      // An int8 tie flip (see golden.test.ts) may excuse a position only at or after a near-tie that the CPU
      // reference recorded. The GPU sums in f32 in another order than PyTorch and the CPU reference, so its BitLinear
      // inputs sit slightly away from theirs; at d = 256 some 14k int8 roundings per token make such a flip likely
      // within a few tokens (seen on SwiftShader). The trained models are that sensitive on the CPU too: the reference
      // with tok_embed scaled by 1 ± 5e-7 (logits 1.6e-7 of the range apart at position 0) flipped within 10 tokens
      // in 3 of 8 sequences, by 1.9e-3 to 4.7e-3. The exactness of every kernel is proven on the tiny models
      // (model.spec.ts).
      expect(tieFlipProblems(parity, NEAR_TIE_DISTANCE)).toEqual([]);
    });
    console.log(`${name}: ${exactCases}/${r.cases.length} cases within ${LOGIT_RELATIVE_TOLERANCE} at every position, ${r.tokensPerSecond.toFixed(1)} tokens/s (${r.adapter})`);
  });
}
