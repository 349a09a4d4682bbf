// Not a test (skipped unless MATVEC_LAB=1): the decode matvec's candidates against the engine's bitlinear_row.
//   MATVEC_LAB=1 [MATVEC_LAB_CANDIDATES=a,b] [MATVEC_LAB_SHAPES=768x256,…] [MATVEC_LAB_TRIALS=5] PW_ONLY=gpu npx playwright test --project=gpu e2e/gpu/matvec-lab.spec.ts
import { test, expect } from '@playwright/test';
import { inHarness } from './in-harness';
import type { LabRow } from './matvec-lab';

test('matvec lab: candidates vs bitlinear_row', async ({ page }) => {
  test.skip(!process.env.MATVEC_LAB, 'a measurement, not a test: set MATVEC_LAB=1');
  test.setTimeout(1_800_000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`[page] ${m.text()}`); });
  const shapes = (process.env.MATVEC_LAB_SHAPES ?? '768x256,256x256,1536x256,256x768').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const names = (process.env.MATVEC_LAB_CANDIDATES ?? '').split(',').filter(Boolean);
  const trials = Number(process.env.MATVEC_LAB_TRIALS ?? 5);
  const targetMs = Number(process.env.MATVEC_LAB_MS ?? 60);
  const all = names.length ? ['former bitlinear_row', ...names.filter((n) => n !== 'former bitlinear_row')] : await inHarness<string[]>(page, 'matvec-lab.ts', 'candidateNames');
  const r = await inHarness<{ adapter: string; rows: LabRow[] }>(page, 'matvec-lab.ts', 'runLab', shapes, all, trials, targetMs);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines = [`${r.adapter}; ${trials} interleaved trials, median µs/call [min–max], ratio = former bitlinear_row median / this median`];
  let engine = 0;
  for (const row of r.rows) {
    if (row.candidate.startsWith('engine')) engine = med(r.rows.find((x) => x.shape === row.shape && x.candidate === 'former bitlinear_row')?.us ?? row.us);
    const m = med(row.us);
    lines.push(`${row.shape.padEnd(9)} ${row.candidate.padEnd(26)} ${m.toFixed(1).padStart(8)} [${Math.min(...row.us).toFixed(1)}–${Math.max(...row.us).toFixed(1)}] ×${(engine / m).toFixed(2)} ${row.exact ? 'exact' : 'DIFFERS'}`);
  }
  console.log(lines.join('\n'));
  expect(r.rows.every((x) => x.exact)).toBe(true);
});
