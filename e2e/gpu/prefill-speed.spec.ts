// Not a test (skipped unless PREFILL_SPEED=1): one run of decode, chunked prompt prefill, the previous per-token
// prefill and reading, same model, same page, for the numbers in docs/ARCHITECTURE.md. Speed never goes into an
// assertion (the machine is shared); the bench (`npm run bench`) is the place for tables.
//   PREFILL_SPEED=1 [PREFILL_MODEL=ttt-hybrid-d256] [PREFILL_CHARS=1500] PW_ONLY=gpu npx playwright test e2e/gpu/prefill-speed.spec.ts
import { test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { inHarness } from './in-harness';
import type { SpeedCheck } from './prefill';

/** The bench's corpus (bench/run.ts): TinyStories validation text; BENCH_CORPUS overrides. */
const CORPUS_PATH = process.env.BENCH_CORPUS ?? '/work/shared/data/tinystories/valid.txt';

test('speeds: decode vs chunked prefill vs reading', async ({ page }) => {
  test.skip(!process.env.PREFILL_SPEED, 'a measurement, not a test: set PREFILL_SPEED=1');
  test.setTimeout(900_000);
  const text = readFileSync(CORPUS_PATH, 'utf8').slice(0, Number(process.env.PREFILL_CHARS ?? 1500));
  const r = await inHarness<SpeedCheck>(page, 'prefill.ts', 'measureSpeeds', process.env.PREFILL_MODEL ?? 'ttt-hybrid-d256', text, 24);
  console.log(JSON.stringify(r, null, 1));
  console.log(`prefill/decode ${(r.prefillChunked / r.decode).toFixed(2)}x (per-token path ${(r.prefillTokenPath / r.decode).toFixed(2)}x), reading/decode ${(r.readingLossOnly / r.decode).toFixed(2)}x (as the app reads: ${(r.readingApp / r.decode).toFixed(2)}x)`);
});
