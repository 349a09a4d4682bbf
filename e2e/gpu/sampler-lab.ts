// The sampler's speed at several workgroup sizes (GpuSampler's workgroupSize), interleaved: wall time of `reps`
// sampling dispatches in one submit, per dispatch. A measurement, not a test: sampler-lab.spec.ts (SAMPLER_LAB=1).
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuSampler } from '../../src/engine/gpu/sampler';
import { DEFAULT_SAMPLING, type SamplingParams } from '../../src/engine/types';
import { Rng } from '../../src/engine/util/rng';

export async function samplerLab(sizes: number[], vocab: number, topK: number, trials = 5, reps = 40): Promise<{ adapter: string; us: Record<number, number[]> }> {
  const ctx = await GpuContext.create();
  const rng = new Rng(5);
  const logits = ctx.createBufferWithData('scratch', 'lab.logits', Float32Array.from({ length: vocab }, () => (rng.int(20000) - 10000) / 1000), GPUBufferUsage.STORAGE);
  const params: SamplingParams = { ...DEFAULT_SAMPLING, topK };
  const samplers = sizes.map((wg) => new GpuSampler(ctx, vocab, wg));
  const us: Record<number, number[]> = Object.fromEntries(sizes.map((wg) => [wg, [] as number[]]));
  const run = async (s: GpuSampler, n: number) => {
    const encoder = ctx.device.createCommandEncoder();
    for (let i = 0; i < n; i++) {
      s.setParams(params, i);
      s.encode(encoder, logits);
    }
    const t = performance.now();
    ctx.device.queue.submit([encoder.finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
    return ((performance.now() - t) * 1000) / n;
  };
  for (const s of samplers) await run(s, 2); // compile and warm
  for (let trial = 0; trial < trials; trial++) {
    for (const s of samplers) us[s.workgroupSize].push(await run(s, reps));
  }
  for (const s of samplers) s.destroy();
  ctx.destroyBuffer(logits);
  ctx.destroy();
  return { adapter: ctx.adapterInfo, us };
}
