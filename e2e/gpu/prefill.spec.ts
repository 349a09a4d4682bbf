// Chunked prefill (GpuModel.encodeChunk) against the token-by-token path, on the tiny models and a trained one.
import { test, expect, type Page } from '@playwright/test';
import { inHarness } from './in-harness';
import type { MixedDriftParity, PrefillParityResult } from './prefill';
import type { SessionPrefillCheck } from './prefill-session';
import { DRIFT_RELATIVE_TOLERANCE, LOGIT_RELATIVE_TOLERANCE } from '../../src/engine/reference/compare';

const run = (page: Page, name: string, tokens: number, sizes: number[]) =>
  inHarness<PrefillParityResult>(page, 'prefill.ts', 'prefillParity', name, tokens, sizes);

function expectParity(r: PrefillParityResult): void {
  for (const c of r.chunks) {
    const worst = Math.max(...c.relative);
    console.log(`  chunk ${c.chunkSize}: worst relative ${worst.toExponential(2)}, identical ${c.identical} (first ${c.identicalPrefix} tokens), same without drift ${c.sameWithoutDrift}, drift max rel ${c.driftMaxRel.toExponential(2)}, last ${c.lastRelative.toExponential(2)}, ${c.ms.toFixed(0)} ms (token path ${r.tokenPathMs.toFixed(0)} ms)`);
    expect(c.relative).toHaveLength(r.tokens);
    expect(c.positionAfter).toBe(r.tokens);
    expect(c.argmaxDiffer).toBe(0);
    expect(worst).toBeLessThanOrEqual(LOGIT_RELATIVE_TOLERANCE);
    expect(c.lastRelative).toBeLessThanOrEqual(LOGIT_RELATIVE_TOLERANCE);
    expect(c.driftMaxRel).toBeLessThanOrEqual(DRIFT_RELATIVE_TOLERANCE);
    if (r.tttLayers === 0) {
      // Attention, FFN and heads: the same per-token arithmetic in the same order (attend_rows runs the decode
      // step's spans and merge order), so every logit is the decode path's, bit for bit.
      expect(c.identical).toBe(true);
    } else {
      // The TTT layers' chunk kernels run the mini-batch dual form (ttt_batch_rows, with drift ttt_batch_rows_drift),
      // which sums in another order than ttt_step, so the logits agree within the tolerance above; with drift on or
      // off the chunks compute the same sums: the same logits bit for bit.
      expect(c.sameWithoutDrift).toBe(true);
    }
  }
}

// Chunk sizes: 1 (the degenerate chunk), 5, 17 and 37 (not aligned with the mini-batch of 16 nor the SWA window of
// 8: chunks start and end mid-batch), 16 (aligned); 40 tokens cross two mini-batch boundaries and wrap the SWA ring
// several times. Chunks alternate drift on/off, so each TTT chunk kernel takes over the other's mid-batch state.
for (const name of ['tiny-ttt', 'tiny-kv', 'tiny-kv-conv']) {
  test(`${name}: chunked prefill equals the token path at chunk sizes 1, 5, 16, 17, 37`, async ({ page }) => {
    const r = await run(page, name, 40, [1, 5, 16, 17, 37]);
    console.log(`${name} (${r.adapter}):`);
    expectParity(r);
  });
}

// Paths the tiny files do not take (model.spec's variants): head size 128, no conv, separate wq/wk, no gates,
// ttt + swa + attn in one model; and swa/attn layers with an attention conv of kernel 2.
const VARIANTS: [string, Record<string, unknown>][] = [
  ['f=128, no conv/shareQK/gate, ttt/swa/attn', { dModel: 128, nHeads: 1, ffnHidden: 128, mixers: ['ttt', 'swa', 'attn'], window: 4, ttt: { miniBatch: 4, baseLr: 1.0, convKernel: 0, shareQK: false, gate: false } }],
  ['swa/ttt/attn with an attention conv of kernel 2, no gate', { mixers: ['swa', 'ttt', 'attn'], window: 4, attn: { convKernel: 2, gate: false } }],
  // f = 128 fits 8 tokens in ttt_batch_rows' workgroup memory: it splits each mini-batch of 16 into segments.
  ['f=128, mini-batch 16 split into segments of 8', { dModel: 128, nHeads: 1, ffnHidden: 128, nLayers: 1, mixers: ['ttt'] }],
];
for (const [label, overrides] of VARIANTS) {
  test(`variant ${label}: chunked prefill equals the token path at chunk sizes 3 and 9`, async ({ page }) => {
    const r = await inHarness<PrefillParityResult>(page, 'prefill.ts', 'variantPrefillParity', overrides, 20, [3, 9]);
    console.log(`variant ${label}:`);
    expectParity(r);
  });
}

// Long contexts (model.spec's long-context variants): 300 tokens, so chunks start past 256 keys in the "attn" caches
// and the "swa" rings (window 70, 100) wrap inside and across chunks; chunk sizes 64 and 37 (the chunk's queries
// run the decode step's spans, whose boundaries the chunks cross).
const LONG_VARIANTS: [string, Record<string, unknown>][] = [
  ['f=16, attn/swa(70)/attn', { mixers: ['attn', 'swa', 'attn'], window: 70 }],
  ['f=256, swa(100)/attn/attn with conv 3 and gate', { dModel: 256, nHeads: 1, ffnHidden: 64, mixers: ['swa', 'attn', 'attn'], window: 100, attn: { convKernel: 3, gate: true } }],
];
for (const [label, overrides] of LONG_VARIANTS) {
  test(`long context ${label}: chunked prefill of 300 tokens equals the token path at chunk sizes 64 and 37`, async ({ page }) => {
    test.setTimeout(180_000);
    const r = await inHarness<PrefillParityResult>(page, 'prefill.ts', 'variantPrefillParity', overrides, 300, [64, 37]);
    console.log(`long context ${label}:`);
    expectParity(r);
  });
}

// Chunks read with drift (ttt_batch_rows_drift) and decode steps with drift (ttt_step) interleaved, ending mid-batch
// both ways (mini-batch 16): every token's logits and drift stats against the token path.
const MIXED: [string, number[]][] = [
  ['tiny-ttt', [5, -3, 13, -2, 9, 1, -4, 7]],
  ['ttt-hybrid-d256', [7, -3, 12, -2]],
];
for (const [name, plan] of MIXED) {
  test(`${name}: chunks with drift and decode steps interleaved (${plan.join(', ')}) equal the token path`, async ({ page }) => {
    const r = await inHarness<MixedDriftParity>(page, 'prefill.ts', 'mixedDriftParity', name, plan);
    console.log(`${name} (${r.adapter}) mixed: worst relative ${r.worstRelative.toExponential(2)}, drift max rel ${r.driftMaxRel.toExponential(2)}`);
    expect(r.argmaxDiffer).toBe(0);
    expect(r.worstRelative).toBeLessThanOrEqual(LOGIT_RELATIVE_TOLERANCE);
    expect(r.driftMaxRel).toBeLessThanOrEqual(DRIFT_RELATIVE_TOLERANCE);
  });
}

// The trained model (d256, 6 layers: ttt, ttt, attn, ttt, ttt, attn; mini-batch 16), kept short: 20 tokens.
test('ttt-hybrid-d256: chunked prefill equals the token path at chunk sizes 7 and 16', async ({ page }) => {
  const r = await run(page, 'ttt-hybrid-d256', 20, [7, 16]);
  console.log(`ttt-hybrid-d256 (${r.adapter}):`);
  expectParity(r);
});

// Session.generate: the prompt read in chunks, then greedy decoding: the same ids as a token-by-token oracle. The
// trained model makes greedy ids vary (the random tiny models repeat one id); tiny-kv-conv covers the attention conv.
const GENERATE_CASES = [
  { name: 'ttt-hybrid-d256', prompt: 'Once upon a time, there was a little girl named Lily. She loved to play in the park with her friends.' },
  { name: 'tiny-kv-conv', prompt: 'Once upon a time, a small fox found a red ball.' },
];
for (const { name, prompt } of GENERATE_CASES) {
  test(`${name}: generate() with a chunked prompt samples the token path's greedy ids; cancel lands between chunks`, async ({ page }) => {
    const r = await inHarness<SessionPrefillCheck>(page, 'prefill-session.ts', 'sessionPrefill', name, prompt, 8, [5, 16, 64], 16);
    expect(r.promptIds.length).toBeGreaterThan(16);
    for (const run of r.runs) {
      console.log(`${name} chunk ${run.chunkSize}: ${run.generated.join(' ')} (oracle ${r.oracleIds.join(' ')}), logits after the prompt ${run.firstLogitsRelative.toExponential(2)}`);
      expect(run.generated).toEqual(r.oracleIds);
      expect(run.firstLogitsRelative).toBeLessThanOrEqual(LOGIT_RELATIVE_TOLERANCE);
      // One 'prompt' event per token, in order, with its position.
      expect(run.promptEvents).toEqual(r.promptIds.map((id, i) => [id, i]));
    }
    expect(r.cancel.stopReason).toBe('cancelled');
    expect(r.cancel.position).toBe(r.cancel.chunkSize); // the first chunk of a longer prompt
    expect(r.cancel.promptEventsSeen).toBe(r.cancel.position);
  });
}
