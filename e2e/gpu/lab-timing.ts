// The labs' timing (matvec-lab.ts, rows-lab.ts, head-lab.ts): µs per dispatch of a kernel, `reps` dispatches in one
// timed compute pass (with `prep`, a dispatch of another kernel before each: its time counts); and for rows-lab and
// head-lab, one dispatch of each run for their bit-for-bit checks, and interleaved, calibrated trials.
import type { GpuContext } from '../../src/engine/gpu/context';

export interface Prep {
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  workgroups: number;
}

export async function timeDispatches(ctx: GpuContext, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, workgroups: number | [number, number], reps: number, prep?: Prep): Promise<number> {
  const device = ctx.device;
  const grid: [number, number] = typeof workgroups === 'number' ? [workgroups, 1] : workgroups;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  try {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
    for (let i = 0; i < reps; i++) {
      if (prep || i === 0) {
        if (prep) {
          pass.setPipeline(prep.pipeline);
          pass.setBindGroup(0, prep.bind);
          pass.dispatchWorkgroups(prep.workgroups);
        }
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
      }
      pass.dispatchWorkgroups(...grid);
    }
    pass.end();
    encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
    device.queue.submit([encoder.finish()]);
    const [begin, end] = new BigInt64Array(await ctx.readBuffer(resolve));
    return Number(end - begin) / 1000 / reps;
  } finally {
    querySet.destroy();
    resolve.destroy();
  }
}

/** A kernel as the labs run it: a pipeline, its bind group and its grid. */
export interface LabRun {
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  workgroups: [number, number];
}

/** Each run dispatched once, in order, in one submit (the labs' bit-for-bit checks read their outputs after it). */
export async function dispatchOnce(ctx: GpuContext, runs: LabRun[]): Promise<void> {
  const encoder = ctx.device.createCommandEncoder();
  for (const r of runs) {
    const pass = encoder.beginComputePass();
    pass.setPipeline(r.pipeline);
    pass.setBindGroup(0, r.bind);
    pass.dispatchWorkgroups(...r.workgroups);
    pass.end();
  }
  ctx.device.queue.submit([encoder.finish()]);
}

/**
 * µs per dispatch of each run over `trials` interleaved trials (run 0, 1, … per trial, so the machine's drift hits all
 * alike), each trial's dispatch count calibrated to about `targetMs` (3–1000, after 2 warm-up dispatches).
 */
export async function timeInterleaved(ctx: GpuContext, runs: LabRun[], trials: number, targetMs: number): Promise<number[][]> {
  const reps = await Promise.all(
    runs.map(async (r) => {
      await timeDispatches(ctx, r.pipeline, r.bind, r.workgroups, 2);
      const probe = await timeDispatches(ctx, r.pipeline, r.bind, r.workgroups, 3);
      return Math.max(3, Math.min(1000, Math.round((targetMs * 1000) / Math.max(probe, 0.01))));
    }),
  );
  const us = runs.map(() => [] as number[]);
  for (let t = 0; t < trials; t++) {
    for (let i = 0; i < runs.length; i++) us[i].push(await timeDispatches(ctx, runs[i].pipeline, runs[i].bind, runs[i].workgroups, reps[i]));
  }
  return us;
}
