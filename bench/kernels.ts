// Page-side measurements that need the GPU directly rather than the engine worker: the decode step's dispatches and
// bound buffers (a GpuModel on the page's own device), and the ternary matvec kernel table (timestamp queries).
import { GpuContext } from '../src/engine/gpu/context';
import { GpuModel } from '../src/engine/gpu/model';
import { matvecInputWords, matvecPlan } from '../src/engine/gpu/bitlinear';
import { packTernaryMatvec, packTernaryRows } from '../src/engine/gpu/pack';
import { SHADERS, WORKGROUP_SIZE, type KernelFeatures } from '../src/engine/gpu/shaders';
import { parseBttt, readBtttHeader } from '../src/engine/format/reader';
import { attnConfig } from '../src/engine/model/spec';
import { Rng } from '../src/engine/util/rng';
import type { ModelConfig, TernaryTensor } from '../src/engine/types';
import type { BenchConfig, BenchModel, DecodeCost, KernelResult, KernelShape, KernelTiming } from './types';

function log(message: string): void {
  console.log(`[bench] ${message}`);
}

async function fetchBytes(model: BenchModel): Promise<Uint8Array> {
  const response = await fetch(model.url);
  if (!response.ok) throw new Error(`fetch ${model.url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The model's decode step after its KV caches were grown to hold `position` tokens, as GpuModel records it. */
export async function measureDecodeCost(model: BenchModel, position: number): Promise<DecodeCost> {
  const ctx = await GpuContext.create();
  try {
    const gpuModel = await GpuModel.create(ctx, parseBttt(await fetchBytes(model)));
    gpuModel.prepare(Math.min(position, gpuModel.config.maxContext - 1));
    const cost = { model: model.id, position, dispatchesPerToken: gpuModel.dispatchesPerToken, dispatches: gpuModel.bindingsPerToken() };
    gpuModel.destroy();
    log(`${model.id}: ${cost.dispatchesPerToken} dispatches per token`);
    return cost;
  } finally {
    ctx.destroy();
  }
}

/** The BitLinear shapes of a model (rows = outputs of the fused matrix, cols = inputs), one per distinct shape. */
export function shippedShapes(c: ModelConfig): KernelShape[] {
  const d = c.dModel;
  const shapes: KernelShape[] = [];
  const push = (name: string, rows: number, cols: number) => {
    if (!shapes.some((s) => s.rows === rows && s.cols === cols)) shapes.push({ name, rows, cols });
  };
  if (c.mixers.includes('ttt')) push(`ttt q,k,v${c.ttt.gate ? ',g' : ''}`, (c.ttt.shareQK ? 1 : 2) * d + d + (c.ttt.gate ? d : 0), d);
  const attn = attnConfig(c);
  if (c.mixers.some((m) => m !== 'ttt')) push(`attn q,k,v${attn.gate ? ',g' : ''}`, 3 * d + (attn.gate ? d : 0), d);
  push('wo', d, d);
  push('ffn w1,w3', 2 * c.ffnHidden, d);
  push('ffn w2', d, c.ffnHidden);
  return shapes;
}

const variantLabel = (f: KernelFeatures) => (f.rowPerThread ? 'matvec row per thread' : `matvec ${f.subgroups ? 'subgroups' : 'workgroup'}+${f.dot4 ? 'dot4' : 'int'}`);

/**
 * Times `reps` dispatches of one pipeline recorded into one compute pass: timestamp queries at the pass's start and
 * end where the device has them, else the wall clock from submit to onSubmittedWorkDone.
 */
async function timePass(ctx: GpuContext, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, workgroups: number, reps: number): Promise<{ us: number; timer: KernelTiming['timer'] }> {
  const device = ctx.device;
  const timestamps = ctx.features.has('timestamp-query');
  const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = timestamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  const readback = timestamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  try {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(workgroups);
    pass.end();
    if (querySet && resolve && readback) {
      encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
    }
    const started = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wallUs = ((performance.now() - started) * 1000) / reps;
    if (!readback) return { us: wallUs, timer: 'wall clock' };
    await readback.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigInt64Array(readback.getMappedRange());
    readback.unmap();
    const ns = Number(end - begin);
    // A device may report zeros (timestamps unsupported in practice): then the wall clock is the measurement.
    return ns > 0 ? { us: ns / 1000 / reps, timer: 'timestamp-query' } : { us: wallUs, timer: 'wall clock' };
  } finally {
    querySet?.destroy();
    resolve?.destroy();
    readback?.destroy();
  }
}

/**
 * The legacy kernel (`bitlinear`, one thread per row) and every bitlinear_matvec variant the device has, at the
 * shipped shapes and the extra ones, on random ternary weights and int8 inputs, ACCUMULATE off.
 */
export async function measureKernels(config: BenchConfig): Promise<KernelResult> {
  const header = readBtttHeader(await fetchBytes(config.kernelShapesModel));
  const shapes = [
    ...shippedShapes(header.config).map((s) => ({ ...s, name: `${config.kernelShapesModel.id} ${s.name}` })),
    ...config.kernelExtraShapes.map(([rows, cols]) => ({ name: `${rows}×${cols}`, rows, cols })),
  ];
  const ctx = await GpuContext.create({ timestamps: true });
  const timings: KernelTiming[] = [];
  const rng = new Rng(3);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const variants: KernelFeatures[] = [];
  for (const subgroups of [false, true]) {
    for (const dot4 of [false, true]) {
      if ((!subgroups || ctx.kernelFeatures.subgroups) && (!dot4 || ctx.kernelFeatures.dot4)) variants.push({ subgroups, dot4, rowPerThread: false });
    }
  }
  // bitlinear_row, the CPU adapters' decode matvec (32 rows per invocation, two columns per i32 multiply since the
  // matvec lab, e2e/gpu/matvec-lab.spec.ts, which also times the former two-rows kernel against it).
  variants.push({ subgroups: false, dot4: false, rowPerThread: true });
  try {
    for (const shape of shapes) {
      const { rows, cols } = shape;
      const tensor: TernaryTensor = { kind: 'ternary', shape: [rows, cols], scale: 0.02, values: Int8Array.from({ length: rows * cols }, () => rng.int(3) - 1) };
      const buffers: GPUBuffer[] = [];
      const buf = (data: ArrayBufferView) => {
        const b = ctx.createBufferWithData('scratch', 'bench', data, usage);
        buffers.push(b);
        return b;
      };
      const xq = buf(Int32Array.from({ length: matvecInputWords(cols) }, (_, i) => (i < cols ? rng.int(256) - 128 : 0)));
      const xscale = buf(new Float32Array([2.5, 0, 0, 0]));
      const y = buf(new Float32Array(rows));
      const runs: { variant: string; engine: boolean; pipeline: GPUComputePipeline; words: GPUBuffer; scales: GPUBuffer; workgroups: number }[] = [];
      if (cols % 16 === 0) {
        const p = packTernaryRows([tensor]);
        runs.push({ variant: 'legacy', engine: false, pipeline: ctx.pipeline(SHADERS.bitlinear, 'bitlinear', { IN: cols, OUT: rows, ACCUMULATE: 0 }), words: buf(p.words), scales: buf(p.rowScales), workgroups: Math.ceil(rows / WORKGROUP_SIZE) });
      }
      const m = packTernaryMatvec([tensor]);
      const words = buf(m.words);
      const scales = buf(m.rowScales);
      for (const features of variants) {
        const plan = matvecPlan(rows, cols, false, features, ctx.maxWorkgroupBytes);
        const k = ctx.kernelFeatures;
        const engine = k.rowPerThread ? features.rowPerThread === true : !features.rowPerThread && features.subgroups === k.subgroups && features.dot4 === k.dot4;
        runs.push({ variant: variantLabel(features), engine, pipeline: ctx.pipeline(plan.shader, plan.entryPoint, plan.constants), words, scales, workgroups: plan.workgroups });
      }
      for (const r of runs) {
        const bindGroup = ctx.device.createBindGroup({
          layout: r.pipeline.getBindGroupLayout(0),
          entries: [r.words, r.scales, xq, xscale, y].map((buffer, binding) => ({ binding, resource: { buffer } })),
        });
        // Warm-up and calibration: then enough dispatches per pass to last about kernelTargetMs.
        await timePass(ctx, r.pipeline, bindGroup, r.workgroups, 1);
        const probe = await timePass(ctx, r.pipeline, bindGroup, r.workgroups, 4);
        const reps = Math.max(4, Math.min(2000, Math.round((config.kernelTargetMs * 1000) / Math.max(probe.us, 0.01))));
        const microseconds: number[] = [];
        let timer: KernelTiming['timer'] = 'timestamp-query';
        for (let trial = 0; trial < config.kernelTrials; trial++) {
          const t = await timePass(ctx, r.pipeline, bindGroup, r.workgroups, reps);
          microseconds.push(t.us);
          if (t.timer === 'wall clock') timer = 'wall clock';
        }
        timings.push({ shape, variant: r.variant, engine: r.engine, reps, microseconds, timer });
        log(`kernel ${shape.name} ${r.variant}: ${microseconds.map((u) => u.toFixed(1)).join(', ')} µs/call (${reps} per pass)`);
      }
      for (const b of buffers) ctx.destroyBuffer(b);
    }
    return { kernels: ctx.describeKernels(), timings };
  } finally {
    ctx.destroy();
  }
}
