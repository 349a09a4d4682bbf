// The labs' one timer (matvec-lab.ts, rows-lab.ts): µs per dispatch of a kernel, `reps` dispatches in one timed
// compute pass; with `prep`, a dispatch of another kernel before each (its time counts).
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
