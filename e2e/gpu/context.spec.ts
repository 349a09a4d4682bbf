// GpuContext: exact tagged bytes of live buffers, the pipeline cache, and no per-token allocation or compilation.
import { test, expect } from '@playwright/test';
import type { checkContext } from './context-checks';
import { inHarness } from './in-harness';

test('context: tagged bytes equal the live GPUBuffers; pipelines cached; decoding creates nothing', async ({ page }) => {
  const r = await inHarness<Awaited<ReturnType<typeof checkContext>>>(page, 'context-checks.ts', 'checkContext');
  expect(r.withTwo.bytes.weights).toBe(1000 + 8);
  expect(r.withTwo.bytes['kv-cache']).toBe(4096);
  expect(r.withTwo.total).toBe(r.gpuSizesLive);
  expect(r.withTwo.buffers).toBe(3);
  expect(r.afterDestroy.bytes['kv-cache']).toBe(0);
  expect(r.afterDestroy.total).toBe(1008);
  expect(r.doubleDestroy).toMatch(/not a live buffer/);
  expect(r.cacheHit).toBe(true);
  expect(r.cacheMissOnConstants).toBe(true);
  expect(r.pipelinesAfter).toBe(r.pipelinesAtLoad);
  expect(r.pipelinesAfterPrecompile).toBeGreaterThan(r.pipelinesAfter); // the chunk kernels, drift variant included
  expect(r.pipelinesAfterDriftChunk).toBe(r.pipelinesAfterPrecompile);
  expect(r.asyncHit).toBe(true);
  expect(r.asyncShared).toBe(true);
  expect(r.asyncCached).toBe(true);
  expect(r.buffersAfter).toBe(r.buffersAtLoad);
  // tiny-ttt (ttt, swa, ttt): embed; per layer the mixer's in, its core (TTT: conv and step in one; attention: conv,
  // RoPE, append and attend in one), wo, w13, w2 (+ mixer_norm, post/subnorm, ffn_norm, swiglu when the norms are not
  // fused into the matvecs: CPU adapters); final norm, lm_head (which advances the position).
  expect(r.dispatches).toBe(3 + (r.fusedNorms ? 5 : 9) * 3);
});
