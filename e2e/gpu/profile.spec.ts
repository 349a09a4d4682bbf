// Not a test (skipped unless PROFILE=1): where a decode step's and a chunk's time goes, per kind of dispatch.
//   PROFILE=1 [PROFILE_MODEL=ttt-hybrid-d256] [PROFILE_CHUNK=64] [PROFILE_POSITION=256] [PROFILE_LOGITS=all] PW_ONLY=gpu npx playwright test e2e/gpu/profile.spec.ts
import { test } from '@playwright/test';
import { inHarness } from './in-harness';
import type { ProfileResult } from './profile';

test('profile: decode step and chunk per kind of dispatch', async ({ page }) => {
  test.skip(!process.env.PROFILE, 'a measurement, not a test: set PROFILE=1');
  test.setTimeout(900_000);
  const chunk = Number(process.env.PROFILE_CHUNK ?? 64);
  const position = Number(process.env.PROFILE_POSITION ?? 0); // tokens read before the timed chunk and step
  const logits = process.env.PROFILE_LOGITS === 'all' ? 'all' : 'last'; // 'all': the LM head over every token, as reading does
  for (const name of (process.env.PROFILE_MODEL ?? 'ttt-hybrid-d256,kv-d256').split(',')) {
    const r = await inHarness<ProfileResult>(page, 'profile.ts', 'profileModel', name, chunk, position, logits);
    const table = (rows: ProfileResult['decode'], total: number) =>
      rows.map((x) => `  ${x.kind.padEnd(34)} ×${String(x.count).padStart(3)} ${(x.us / 1000).toFixed(2).padStart(9)} ms ${((100 * x.us) / total).toFixed(1).padStart(5)} %`).join('\n');
    console.log(`${name} (${r.adapter})\ndecode step: ${(r.decodeUs / 1000).toFixed(2)} ms\n${table(r.decode, r.decodeUs)}`);
    console.log(`chunk of ${r.chunkTokens} at position ${r.position}: ${(r.chunkUs / 1000).toFixed(2)} ms = ${(r.chunkUs / 1000 / r.chunkTokens).toFixed(2)} ms/token\n${table(r.chunk, r.chunkUs)}`);
  }
});
