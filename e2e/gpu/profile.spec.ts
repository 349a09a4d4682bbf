// Not a test (skipped unless PROFILE=1): where a decode step's and a chunk's time goes, per kind of dispatch.
//   PROFILE=1 [PROFILE_MODEL=ttt-hybrid-d256] [PROFILE_CHUNK=64] [PROFILE_POSITION=256] [PROFILE_LOGITS=all] [PROFILE_DRIFT=1] PW_ONLY=gpu npx playwright test e2e/gpu/profile.spec.ts
// A/B of kernel choices in one page, rounds alternated (the machine's load moves between runs):
//   PROFILE=1 PROFILE_AB='{"fewHeadThreads":false}' [PROFILE_ROUNDS=4] … : each kind's median over the rounds, default (A) vs B
import { test } from '@playwright/test';
import { inHarness } from './in-harness';
import type { ProfileResult } from './profile';

test('profile: decode step and chunk per kind of dispatch', async ({ page }) => {
  test.skip(!process.env.PROFILE, 'a measurement, not a test: set PROFILE=1');
  test.setTimeout(900_000);
  const chunk = Number(process.env.PROFILE_CHUNK ?? 64);
  const position = Number(process.env.PROFILE_POSITION ?? 0); // tokens read before the timed chunk and step
  const logits = process.env.PROFILE_LOGITS === 'all' ? 'all' : 'last'; // 'all': the LM head over every token, as reading does
  const drift = process.env.PROFILE_DRIFT === '1';
  if (process.env.PROFILE_AB) {
    const b = JSON.parse(process.env.PROFILE_AB) as Record<string, boolean>;
    const name = process.env.PROFILE_MODEL ?? 'ttt-hybrid-d256';
    const a: ProfileResult[] = [];
    const bs: ProfileResult[] = [];
    for (let round = 0; round < Number(process.env.PROFILE_ROUNDS ?? 4); round++) {
      a.push(await inHarness<ProfileResult>(page, 'profile.ts', 'profileModel', name, chunk, position, logits, 1, {}, drift));
      bs.push(await inHarness<ProfileResult>(page, 'profile.ts', 'profileModel', name, chunk, position, logits, 1, b, drift));
    }
    const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
    for (const path of ['decode', 'chunk'] as const) {
      const total = path === 'decode' ? 'decodeUs' : 'chunkUs';
      console.log(`${name} ${path}: A (default) ${(med(a.map((r) => r[total])) / 1000).toFixed(2)} ms, B ${JSON.stringify(b)} ${(med(bs.map((r) => r[total])) / 1000).toFixed(2)} ms`);
      for (const row of a[0][path]) {
        const ua = med(a.map((r) => r[path].find((x) => x.kind === row.kind)?.us ?? 0));
        const ub = med(bs.map((r) => r[path].find((x) => x.kind === row.kind)?.us ?? 0));
        console.log(`  ${row.kind.padEnd(34)} A ${(ua / 1000).toFixed(2).padStart(8)} ms  B ${(ub / 1000).toFixed(2).padStart(8)} ms  B/A ${(ub / ua).toFixed(2)}`);
      }
    }
    return;
  }
  for (const name of (process.env.PROFILE_MODEL ?? 'ttt-hybrid-d256,kv-d256').split(',')) {
    const r = await inHarness<ProfileResult>(page, 'profile.ts', 'profileModel', name, chunk, position, logits, 3, {}, drift);
    const table = (rows: ProfileResult['decode'], total: number) =>
      rows.map((x) => `  ${x.kind.padEnd(34)} ×${String(x.count).padStart(3)} ${(x.us / 1000).toFixed(2).padStart(9)} ms ${((100 * x.us) / total).toFixed(1).padStart(5)} %`).join('\n');
    console.log(`${name} (${r.adapter})\ndecode step: ${(r.decodeUs / 1000).toFixed(2)} ms\n${table(r.decode, r.decodeUs)}`);
    console.log(`chunk of ${r.chunkTokens} at position ${r.position}: ${(r.chunkUs / 1000).toFixed(2)} ms = ${(r.chunkUs / 1000 / r.chunkTokens).toFixed(2)} ms/token\n${table(r.chunk, r.chunkUs)}`);
  }
});
