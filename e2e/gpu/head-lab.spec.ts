// Not a test (skipped unless HEAD_LAB=1): the prefill chunk's LM head (lm_head_rows) against candidate tilings.
//   HEAD_LAB=1 [HEAD_LAB_CANDIDATES=a,b] [HEAD_LAB_SHAPES=4096x256,…] (vocabulary × d) [HEAD_LAB_TOKENS=64] [HEAD_LAB_TRIALS=5] PW_ONLY=gpu npx playwright test --project=gpu e2e/gpu/head-lab.spec.ts
import { test, expect } from '@playwright/test';
import { inHarness } from './in-harness';
import type { LabRow } from './matvec-lab';

test('head lab: candidates vs lm_head_rows', async ({ page }) => {
  test.skip(!process.env.HEAD_LAB, 'a measurement, not a test: set HEAD_LAB=1');
  test.setTimeout(1_800_000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`[page] ${m.text()}`); });
  const shapes = (process.env.HEAD_LAB_SHAPES ?? '4096x256').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const names = (process.env.HEAD_LAB_CANDIDATES ?? '').split(',').filter(Boolean);
  const tokens = Number(process.env.HEAD_LAB_TOKENS ?? 64);
  const trials = Number(process.env.HEAD_LAB_TRIALS ?? 5);
  const targetMs = Number(process.env.HEAD_LAB_MS ?? 60);
  const all = names.length ? names : await inHarness<string[]>(page, 'head-lab.ts', 'candidateNames');
  const r = await inHarness<{ adapter: string; rows: LabRow[] }>(page, 'head-lab.ts', 'runLab', shapes, all, tokens, trials, targetMs);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines = [`${r.adapter}; ${tokens} tokens, ${trials} interleaved trials, median µs/call [min–max], ratio = engine median / this median`];
  let engine = 0;
  for (const row of r.rows) {
    if (row.candidate === 'engine lm_head_rows') engine = med(row.us);
    const m = med(row.us);
    lines.push(`${row.shape.padEnd(9)} ${row.candidate.padEnd(26)} ${m.toFixed(1).padStart(8)} [${Math.min(...row.us).toFixed(1)}–${Math.max(...row.us).toFixed(1)}] ×${(engine / m).toFixed(2)} ${row.exact ? 'exact' : 'DIFFERS'}`);
  }
  console.log(lines.join('\n'));
  expect(r.rows.every((x) => x.exact)).toBe(true);
});
