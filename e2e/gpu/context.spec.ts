// GpuContext: exact tagged bytes of live buffers, the pipeline cache, and no per-token allocation or compilation.
import { test, expect } from '@playwright/test';
import type { checkContext } from './context-checks';

test('context: tagged bytes equal the live GPUBuffers; pipelines cached; decoding creates nothing', async ({ page }) => {
  let r: Awaited<ReturnType<typeof checkContext>> | undefined;
  for (let attempt = 0; !r; attempt++) {
    await page.goto('/e2e/gpu/harness.html');
    try {
      r = await page.evaluate(async () => {
        const url = '/e2e/gpu/context-checks.ts';
        const m = await import(url);
        return m.checkContext();
      });
    } catch (e) {
      if (attempt >= 1 || !/Execution context was destroyed/.test(String(e))) throw e; // dev-server reload: retry once
    }
  }
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
  expect(r.buffersAfter).toBe(r.buffersAtLoad);
  expect(r.dispatches).toBe(4 + 10 * 3);
});
