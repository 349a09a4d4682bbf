// Not a test (skipped unless COMPILE=1): what a model's first load compiles and what each pipeline costs.
//   COMPILE=1 [COMPILE_MODEL=ttt-hybrid-d256,tiny-ttt] [COMPILE_LOAD_ONLY=1] PW_ONLY=gpu npx playwright test --project=gpu e2e/gpu/compile.spec.ts
import { test } from '@playwright/test';
import { inHarness } from './in-harness';
import type { CompileProfile } from './compile-profile';

test('compile: pipelines of a first load, each timed', async ({ page }) => {
  test.skip(!process.env.COMPILE, 'a measurement, not a test: set COMPILE=1');
  test.setTimeout(900_000);
  for (const name of (process.env.COMPILE_MODEL ?? 'ttt-hybrid-d256').split(',')) {
    const r = await inHarness<CompileProfile>(page, 'compile-profile.ts', 'compileProfile', name, process.env.COMPILE_LOAD_ONLY === '1');
    console.log(`${name} (${r.adapter}): load (create + warm-up) ${(r.loadMs / 1000).toFixed(1)} s, then the drift chunk in the background ${(r.backgroundMs / 1000).toFixed(1)} s; ${r.pipelines} pipelines from ${r.modules} modules`);
    if (process.env.COMPILE_LOAD_ONLY === '1') continue;
    console.log(`  each alone: ${(r.sequentialMs / 1000).toFixed(1)} s in all; all at once: ${(r.parallelMs / 1000).toFixed(1)} s`);
    for (const row of r.sequential) console.log(`  ${(row.ms / 1000).toFixed(2).padStart(6)} s  ${row.name}`);
  }
});

// COMPILE_AB=entry COMPILE_BASE=/e2e/gpu/ab-base.wgsl (e.g. `git show REV:shaders/ttt.wgsl > e2e/gpu/ab-base.wgsl`,
// git-ignored): that kernel's compile time, current ttt.wgsl against the base, alternated on one device.
test('compile: one kernel, current ttt.wgsl against a base copy', async ({ page }) => {
  test.skip(!process.env.COMPILE_AB, 'a measurement, not a test: set COMPILE_AB=entry and COMPILE_BASE=url');
  test.setTimeout(900_000);
  const name = process.env.COMPILE_MODEL ?? 'ttt-hybrid-d256';
  const r = await inHarness<{ a: number[]; b: number[] }>(page, 'compile-profile.ts', 'compileAB', name, process.env.COMPILE_AB, process.env.COMPILE_BASE, Number(process.env.COMPILE_ROUNDS ?? 3));
  const fmt = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');
  console.log(`${name} ${process.env.COMPILE_AB}: current ${fmt(r.a)} s; base ${fmt(r.b)} s`);
});
