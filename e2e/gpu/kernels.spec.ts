// Single kernels on random inputs against CPU computations (e2e/gpu/kernels.ts).
// Tolerances: bitlinear (integer sums, one f32 multiply) ≤ 1e-6 of max |y|; norms and the LM heads (f32 sums on the
// GPU, f64 on the CPU) ≤ 1e-5; the embedding is a copy (0); the int8 quantiser agrees exactly on the GPU's floats,
// the norm kernels' two entry points (workgroup / one invocation per row) agree bit for bit, and so do the chunk's
// LM head (lm_head_rows) and the decode step's (lm_head) for every token.
// TTT and attention kernels are checked through whole-model parity with the reference (model.spec.ts).
import { test, expect } from '@playwright/test';
import { inHarness } from './in-harness';
import type { checkMatvec, checkModelMatvecVariants, checkSerialHeads } from './kernels';

test('kernels agree with CPU computations on random inputs', async ({ page }) => {
  const results = await inHarness<{ name: string; maxRelDiff: number; intMismatches: number }[]>(page, 'kernels.ts', 'checkKernels');
  const tolerance: Record<string, number> = { bitlinear: 1e-6, 'norm rms': 1e-5, 'norm rms+gate': 1e-5, 'norm swiglu': 1e-5, 'norm layer+gate': 1e-5 };
  for (const suffix of ['', ' (f16 table)', ' (odd D)', ' (f16 table) (odd D)']) Object.assign(tolerance, { [`embed${suffix}`]: 0, [`lm_head${suffix}`]: 1e-5, [`lm_head_rows${suffix}`]: 1e-5 });
  expect(results.map((r) => r.name).sort()).toEqual(Object.keys(tolerance).sort());
  for (const r of results) {
    console.log(`${r.name}: max relative diff ${r.maxRelDiff.toExponential(2)}, int8 mismatches ${r.intMismatches}`);
    expect(r.maxRelDiff, r.name).toBeLessThanOrEqual(tolerance[r.name]);
    expect(r.intMismatches, r.name).toBe(0);
  }
});

// Shapes (rows × cols, ACCUMULATE): below 64, not a multiple of 64, not a multiple of 16, ≥ 256 (the shipped d256
// shapes), and one with several x chunks per invocation; ACCUMULATE alternates so that both modes meet small and
// large shapes while each variant compiles one pipeline per shape.
const MATVEC_SHAPES: [number, number, boolean][] = [[16, 48, false], [5, 37, true], [100, 80, false], [256, 256, true], [768, 256, false], [24, 1000, true]];

test('ternary matvec: every variant equals the integer sum exactly, the legacy kernel bit for bit, and its fused-norm form the norm kernel + matvec bit for bit', async ({ page }) => {
  const r = await inHarness<Awaited<ReturnType<typeof checkMatvec>>>(page, 'kernels.ts', 'checkMatvec', MATVEC_SHAPES);
  console.log(`matvec on this device: ${r.describe}`);
  const variants = [...new Set(r.cases.map((c) => c.variant))];
  // The portable variant always runs; SwiftShader (CI) has subgroups and dot4I8Packed, so all four run there.
  expect(variants).toContain('workgroup+int');
  expect(variants).toContain('row per thread');
  if (r.features.subgroups) expect(variants).toContain('subgroups+int');
  if (r.features.dot4) expect(variants).toContain('workgroup+dot4');
  if (r.features.subgroups && r.features.dot4) expect(variants).toContain('subgroups+dot4');
  expect(r.cases).toHaveLength(MATVEC_SHAPES.length * variants.length);
  expect(new Set(r.cases.map((c) => c.accumulate))).toEqual(new Set([false, true]));
  for (const c of r.cases) {
    const name = `${c.variant} ${c.rows}×${c.cols} accumulate=${c.accumulate}`;
    expect(c.integerMismatches, name).toBe(0);
    if (c.cols % 16 === 0) expect(c.legacyMismatches, name).toBe(0);
    expect(c.fusedMismatches, `${name} fused with ${c.fusedKind}`).toBe(0);
  }
  expect(new Set(r.cases.map((c) => c.fusedKind))).toEqual(new Set(['rms', 'swiglu']));
});

test('GpuModel gives the same logits, bit for bit, with the tiled matvec (device features and portable) and one row per thread (norms apart and fused)', async ({ page }) => {
  const r = await inHarness<Awaited<ReturnType<typeof checkModelMatvecVariants>>>(page, 'kernels.ts', 'checkModelMatvecVariants', [3, 1, 4, 1, 5, 9]);
  console.log(`device variant: ${r.fast}; portable: ${r.portable}`);
  expect(r.portable).toMatch(/^no subgroups.*no dot4I8Packed.*; matvec rows per invocation.*dispatches of one invocation.*; matvec rows per invocation.*fused into the matvecs.*$/);
  expect(r.compared).toBeGreaterThan(0);
  expect(r.differingLogits).toBe(0);
});

// The decode step's per-head kernels on few threads per head (ttt_step_few, attend_step[_conv]_serial: CPU adapters)
// and as a workgroup per head: 40 tokens
// cross two TTT mini-batch ends (B 16) and wrap the SWA rings; drift on every other step. Models: tiny-ttt (ttt, swa),
// tiny-kv-conv (attention with its conv), and the variants: f 128 with ttt/swa/attn and no conv, shareQK or gates; an
// attention conv of kernel 2 on swa and attn.
const SERIAL_CASES: [string, string | null, Record<string, unknown>][] = [
  ['tiny-ttt', 'tiny-ttt', {}],
  ['tiny-kv-conv', 'tiny-kv-conv', {}],
  ['f=128, no conv/shareQK/gate, ttt/swa/attn', null, { dModel: 128, nHeads: 1, ffnHidden: 128, mixers: ['ttt', 'swa', 'attn'], window: 4, ttt: { miniBatch: 4, baseLr: 1.0, convKernel: 0, shareQK: false, gate: false } }],
  ['swa/ttt/attn with an attention conv of kernel 2', null, { mixers: ['swa', 'ttt', 'attn'], window: 4, attn: { convKernel: 2, gate: false } }],
];
for (const [label, name, overrides] of SERIAL_CASES) {
  test(`${label}: few threads per head (CPU adapters) give the workgroup kernels' logits, drift and state, bit for bit`, async ({ page }) => {
    const r = await inHarness<Awaited<ReturnType<typeof checkSerialHeads>>>(page, 'kernels.ts', 'checkSerialHeads', name, overrides, 40);
    console.log(`${label} (${r.adapter}): ${r.compared} logits, ${r.differingLogits} differ; drift ${r.differingDrift} of ${r.driftCompared}; state ${r.differingState}`);
    expect(r.compared).toBeGreaterThan(0);
    expect(r.differingLogits).toBe(0);
    if (name !== 'tiny-kv-conv') expect(r.driftCompared).toBeGreaterThan(0);
    expect(r.differingDrift).toBe(0);
    expect(r.differingState).toBe(0);
  });
}
