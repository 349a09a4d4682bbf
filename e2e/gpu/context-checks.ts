// In-page checks of GpuContext: tagged byte accounting against the GPUBuffers actually alive, the pipeline cache,
// and that decoding compiles nothing and allocates nothing per token.
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { SHADERS } from '../../src/engine/gpu/shaders';
import { loadTiny } from './parity';

export async function checkContext() {
  const ctx = await GpuContext.create();
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const a = ctx.createBuffer('weights', 'a', 1000, usage);
  const b = ctx.createBuffer('kv-cache', 'b', 4096, usage);
  const c = ctx.createBuffer('weights', 'c', 6, usage); // rounded up to 8
  const withTwo = ctx.memoryReport();
  const gpuSizesLive = [a, b, c].reduce((n, x) => n + x.size, 0);
  ctx.destroyBuffer(b);
  const afterDestroy = ctx.memoryReport();
  let doubleDestroy = '';
  try {
    ctx.destroyBuffer(b);
  } catch (e) {
    doubleDestroy = (e as Error).message;
  }
  const p1 = ctx.pipeline(SHADERS.bitlinear, 'bitlinear', { IN: 32, OUT: 8, ACCUMULATE: 0 });
  const p2 = ctx.pipeline(SHADERS.bitlinear, 'bitlinear', { OUT: 8, ACCUMULATE: 0, IN: 32 });
  const p3 = ctx.pipeline(SHADERS.bitlinear, 'bitlinear', { IN: 32, OUT: 16, ACCUMULATE: 0 });
  ctx.destroyBuffer(a);
  ctx.destroyBuffer(c);

  // Decoding reuses everything made at load: no pipeline compiled, no buffer created per token (TTT model).
  const model = await GpuModel.create(ctx, await loadTiny('tiny-ttt'));
  const pipelinesAtLoad = ctx.pipelineCount;
  const buffersAtLoad = ctx.memoryReport().buffers;
  for (let i = 0; i < 5; i++) await model.step(i);
  const pipelinesAfter = ctx.pipelineCount;
  const buffersAfter = ctx.memoryReport().buffers;
  const dispatches = model.dispatchesPerToken;
  const fusedNorms = ctx.kernelFeatures.fusedNorms;
  // The drift chunk compiled in the background: its first read compiles nothing more; pipelineAsync then answers
  // from the cache with the pipeline pipeline() returns.
  await model.precompileDriftChunk();
  const pipelinesAfterPrecompile = ctx.pipelineCount;
  const encoder = ctx.device.createCommandEncoder();
  model.encodeChunk(encoder, [1, 2, 3], { logits: 'all', drift: true });
  ctx.device.queue.submit([encoder.finish()]);
  await ctx.device.queue.onSubmittedWorkDone();
  const pipelinesAfterDriftChunk = ctx.pipelineCount;
  const asyncHit = (await ctx.pipelineAsync(SHADERS.bitlinear, 'bitlinear', { IN: 32, OUT: 8, ACCUMULATE: 0 })) === p1;
  const q1 = ctx.pipelineAsync(SHADERS.bitlinear, 'bitlinear', { IN: 64, OUT: 8, ACCUMULATE: 0 });
  const asyncShared = q1 === ctx.pipelineAsync(SHADERS.bitlinear, 'bitlinear', { IN: 64, OUT: 8, ACCUMULATE: 0 });
  const asyncCached = (await q1) === ctx.pipeline(SHADERS.bitlinear, 'bitlinear', { IN: 64, OUT: 8, ACCUMULATE: 0 });
  model.destroy();
  ctx.destroy();
  return {
    withTwo,
    gpuSizesLive,
    afterDestroy,
    doubleDestroy,
    cacheHit: p1 === p2,
    cacheMissOnConstants: p1 !== p3,
    pipelinesAtLoad,
    pipelinesAfter,
    pipelinesAfterPrecompile,
    pipelinesAfterDriftChunk,
    asyncHit,
    asyncShared,
    asyncCached,
    buffersAtLoad,
    buffersAfter,
    dispatches,
    fusedNorms,
  };
}
