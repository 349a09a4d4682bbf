// Single kernels on random inputs against small CPU functions written here (independent of the engine's host
// code except the weight packer, which the bitlinear check exercises too).
import { GpuContext } from '../../src/engine/gpu/context';
import { SHADERS } from '../../src/engine/gpu/shaders';
import { packTernaryMatvec, packTernaryRows } from '../../src/engine/gpu/pack';
import { packFloatTable } from '../../src/engine/gpu/float-table';
import { f16BitsToF32, f32ToF16Bits } from '../../src/engine/format/f16';
import { matvecPlan } from '../../src/engine/gpu/bitlinear';
import type { KernelFeatures } from '../../src/engine/gpu/shaders';
import type { TernaryTensor } from '../../src/engine/types';
import { Rng } from '../../src/engine/util/rng';

const usage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

// A validation error (e.g. a missing override constant) fails the check instead of leaving zeros behind.
async function run(ctx: GpuContext, shader: string, entry: string, constants: Record<string, number>, buffers: GPUBuffer[], groups: number) {
  ctx.device.pushErrorScope('validation');
  const pipeline = ctx.pipeline(shader, entry, constants);
  const bindGroup = ctx.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(groups);
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  const error = await ctx.device.popErrorScope();
  if (error) throw new Error(`${entry}: ${error.message}`);
}

const roundEven = (x: number) => {
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
};

export interface KernelResult {
  name: string;
  /** Max |GPU − CPU| relative to max |CPU| (floats), or count of differing integers. */
  maxRelDiff: number;
  intMismatches: number;
}

export async function checkKernels(gpu?: GPU): Promise<KernelResult[]> {
  const ctx = await GpuContext.create({ gpu });
  const rng = new Rng(7);
  const out: KernelResult[] = [];
  const f32 = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  const buf = (data: ArrayBufferView) => ctx.createBufferWithData('scratch', 'test', data, usage());
  const empty = (bytes: number) => ctx.createBuffer('scratch', 'test', bytes, usage());
  const relDiff = (g: Float32Array, c: ArrayLike<number>) => {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < c.length; i++) {
      diff = Math.max(diff, Math.abs(g[i] - c[i]));
      scale = Math.max(scale, Math.abs(c[i]));
    }
    return diff / scale;
  };

  // BitLinear: two concatenated ternary tensors with their own scales, integer input, accumulate into y.
  {
    const IN = 96;
    const rowsA = 70;
    const rowsB = 50;
    const tensor = (rows: number, scale: number) => ({
      kind: 'ternary' as const,
      shape: [rows, IN],
      scale,
      values: Int8Array.from({ length: rows * IN }, () => rng.int(3) - 1),
    });
    const a = tensor(rowsA, 0.03);
    const b = tensor(rowsB, 0.05);
    const packed = packTernaryRows([a, b]);
    const xq = Int32Array.from({ length: IN }, () => rng.int(256) - 128);
    const sx = 3.7;
    const y0 = f32(rowsA + rowsB, () => rng.normal());
    const y = buf(y0);
    await run(ctx, SHADERS.bitlinear, 'bitlinear', { IN, OUT: rowsA + rowsB, ACCUMULATE: 1 }, [buf(packed.words), buf(packed.rowScales), buf(xq), buf(new Float32Array([sx, 0, 0, 0])), y], Math.ceil((rowsA + rowsB) / 64));
    const g = new Float32Array(await ctx.readBuffer(y));
    const cpu = new Float64Array(rowsA + rowsB);
    [a, b].forEach((t, ti) => {
      for (let r = 0; r < t.shape[0]; r++) {
        let acc = 0;
        for (let i = 0; i < IN; i++) acc += t.values[r * IN + i] * xq[i];
        cpu[r + ti * rowsA] = y0[r + ti * rowsA] + acc * Math.fround(t.scale / Math.fround(sx));
      }
    });
    out.push({ name: 'bitlinear', maxRelDiff: relDiff(g, cpu), intMismatches: 0 });
  }

  // RMSNorm + int8 quantisation.
  {
    const N = 160;
    const x = f32(N, () => 3 * rng.normal());
    const gain = f32(N, () => 1 + 0.2 * rng.normal());
    const dst = empty(N * 4);
    const xq = empty(N * 4);
    const xs = empty(16);
    await run(ctx, SHADERS.norm, 'rms_norm_quant', { N, EPS: 1e-5 }, [buf(x), buf(gain), dst, xq, xs], 1);
    const g = new Float32Array(await ctx.readBuffer(dst));
    const gq = new Int32Array(await ctx.readBuffer(xq));
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / N + 1e-5);
    const cpu = Array.from(x, (v, i) => Math.fround(v * inv * gain[i]));
    // Quantise the GPU's own normalised values on the CPU: this isolates the quantiser from f32 rounding of the norm.
    let absmax = 0;
    for (const v of g) absmax = Math.max(absmax, Math.abs(v));
    const scale = Math.fround(127 / Math.max(absmax, Math.fround(1e-5)));
    let mismatches = 0;
    g.forEach((v, i) => {
      const q = Math.min(127, Math.max(-128, roundEven(Math.fround(v * scale))));
      if (q !== gq[i]) mismatches++;
    });
    out.push({ name: 'rms_norm_quant', maxRelDiff: relDiff(g, cpu), intMismatches: mismatches });
  }

  // SwiGLU + sub-norm.
  {
    const F = 80;
    const ac = f32(2 * F, () => 2 * rng.normal());
    const gain = f32(F, () => 1 + 0.2 * rng.normal());
    const h = empty(F * 4);
    await run(ctx, SHADERS.ffn, 'swiglu_norm_quant', { F, EPS: 1e-5 }, [buf(ac), buf(gain), h, empty(F * 4), empty(16)], 1);
    const g = new Float32Array(await ctx.readBuffer(h));
    const hv = Array.from({ length: F }, (_, i) => (ac[i] / (1 + Math.exp(-ac[i]))) * ac[F + i]);
    let ss = 0;
    for (const v of hv) ss += v * v;
    const inv = 1 / Math.sqrt(ss / F + 1e-5);
    out.push({ name: 'swiglu_norm_quant', maxRelDiff: relDiff(g, hv.map((v, i) => v * inv * gain[i])), intMismatches: 0 });
  }

  // Embedding lookup and LM head, on an f32 table and on the f16-pair table the model uses for .bttt files
  // (gpu/float-table.ts); the f16 table holds f16-rounded values, so both must match the CPU exactly / to 1e-5.
  for (const asF16 of [false, true]) {
    const D = 48;
    const V = 100;
    const table = f32(V * D, () => rng.normal());
    if (asF16) for (let i = 0; i < table.length; i++) table[i] = f16BitsToF32(f32ToF16Bits(table[i]));
    const packed = packFloatTable(table, V, D);
    if (packed.f16 !== asF16) throw new Error(`packFloatTable chose f16 = ${packed.f16}, expected ${asF16}`);
    const layout = { D, V, F16: asF16 ? 1 : 0, ROW_WORDS: packed.rowWords };
    const suffix = asF16 ? ' (f16 table)' : '';
    const x = empty(D * 4);
    await run(ctx, SHADERS.embedding, 'embed', layout, [buf(new Uint32Array([42, 0, 0, 0])), buf(packed.words), x], 1);
    const gx = new Float32Array(await ctx.readBuffer(x));
    out.push({ name: 'embed' + suffix, maxRelDiff: relDiff(gx, table.subarray(42 * D, 43 * D)), intMismatches: 0 });
    const xn = f32(D, () => rng.normal());
    const logits = empty(V * 4);
    await run(ctx, SHADERS.head, 'lm_head', layout, [buf(packed.words), buf(xn), logits], Math.ceil(V / 64));
    const gl = new Float32Array(await ctx.readBuffer(logits));
    const cpu = Array.from({ length: V }, (_, v) => {
      let acc = 0;
      for (let i = 0; i < D; i++) acc += table[v * D + i] * xn[i];
      return acc;
    });
    out.push({ name: 'lm_head' + suffix, maxRelDiff: relDiff(gl, cpu), intMismatches: 0 });
  }
  ctx.destroy();
  return out;
}

export interface MatvecCase {
  variant: string;
  rows: number;
  cols: number;
  accumulate: boolean;
  /** Rows whose y differs from the CPU's integer sum (scales 1, so y is that integer exactly). */
  integerMismatches: number;
  /** Rows whose y differs bitwise from the legacy `bitlinear` kernel with real per-row scales; -1: not comparable (cols not a multiple of 16). */
  legacyMismatches: number;
  workgroups: number;
}

/** The variants this device can run: the tiled ones (all four where it has subgroups and dot4I8Packed) and one row per thread. */
export function matvecVariants(ctx: GpuContext): KernelFeatures[] {
  const out: KernelFeatures[] = [];
  for (const subgroups of [false, true]) {
    for (const dot4 of [false, true]) {
      if ((!subgroups || ctx.kernelFeatures.subgroups) && (!dot4 || ctx.kernelFeatures.dot4)) out.push({ subgroups, dot4, rowPerThread: false });
    }
  }
  out.push({ subgroups: false, dot4: false, rowPerThread: true });
  return out;
}

export const variantName = (f: KernelFeatures) => (f.rowPerThread ? 'row per thread' : `${f.subgroups ? 'subgroups' : 'workgroup'}+${f.dot4 ? 'dot4' : 'int'}`);

/**
 * bitlinear_matvec, every variant the device has, at shapes below 64, not a multiple of 64 (or of 16), and ≥ 256:
 * each with ACCUMULATE on or off as given (a pipeline per variant, shape and mode: compiling dominates the time):
 * (1) row scales and s_x of 1, so y is the integer Σ w·x itself (+ y0, integers, with ACCUMULATE), compared
 * exactly with the CPU; (2) two concatenated tensors with their own scales, compared bitwise with the legacy kernel.
 */
export async function checkMatvec(shapes: [rows: number, cols: number, accumulate: boolean][]): Promise<{ features: KernelFeatures; describe: string; cases: MatvecCase[] }> {
  const ctx = await GpuContext.create();
  const rng = new Rng(11);
  const cases: MatvecCase[] = [];
  const buf = (data: ArrayBufferView) => ctx.createBufferWithData('scratch', 'test', data, usage());
  const tensor = (rows: number, cols: number, scale: number): TernaryTensor => ({
    kind: 'ternary', shape: [rows, cols], scale, values: Int8Array.from({ length: rows * cols }, () => rng.int(3) - 1),
  });
  for (const [rows, cols, accumulate] of shapes) {
    const top = Math.ceil(rows / 3);
    const a = tensor(top, cols, 0.03);
    const b = tensor(rows - top, cols, 0.05);
    const xq = Int32Array.from({ length: cols }, () => rng.int(256) - 128);
    // Extremes too: the packing of -128 and 127 into i8 lanes.
    xq[0] = -128;
    if (cols > 1) xq[cols - 1] = 127;
    const y0 = Float32Array.from({ length: rows }, () => rng.int(2001) - 1000);
    const cpu = new Int32Array(rows);
    [a, b].forEach((t, ti) => {
      for (let r = 0; r < t.shape[0]; r++) {
        let acc = 0;
        for (let i = 0; i < cols; i++) acc += t.values[r * cols + i] * xq[i];
        cpu[r + ti * top] = acc;
      }
    });
    const matvec = packTernaryMatvec([a, b]);
    const wordsBuf = buf(matvec.words);
    const xqBuf = buf(xq);
    const ones = buf(new Float32Array(rows).fill(1));
    const sxOne = buf(new Float32Array([1, 0, 0, 0]));
    const realScales = buf(matvec.rowScales);
    const sx = buf(new Float32Array([3.7, 0, 0, 0]));
    let legacy: Float32Array | null = null;
    {
      if (cols % 16 === 0) {
        const packed = packTernaryRows([a, b]);
        const y = buf(y0);
        await run(ctx, SHADERS.bitlinear, 'bitlinear', { IN: cols, OUT: rows, ACCUMULATE: accumulate ? 1 : 0 }, [buf(packed.words), buf(packed.rowScales), xqBuf, sx, y], Math.ceil(rows / 64));
        legacy = new Float32Array(await ctx.readBuffer(y));
      }
      for (const features of matvecVariants(ctx)) {
        const plan = matvecPlan(rows, cols, accumulate, features, ctx.maxWorkgroupBytes);
        const yInt = buf(y0);
        await run(ctx, plan.shader, plan.entryPoint, plan.constants, [wordsBuf, ones, xqBuf, sxOne, yInt], plan.workgroups);
        const gInt = new Float32Array(await ctx.readBuffer(yInt));
        let integerMismatches = 0;
        for (let r = 0; r < rows; r++) if (gInt[r] !== (accumulate ? y0[r] : 0) + cpu[r]) integerMismatches++;
        let legacyMismatches = -1;
        if (legacy) {
          const y = buf(y0);
          await run(ctx, plan.shader, plan.entryPoint, plan.constants, [wordsBuf, realScales, xqBuf, sx, y], plan.workgroups);
          const g = new Uint32Array(await ctx.readBuffer(y));
          const l = new Uint32Array(legacy.buffer);
          legacyMismatches = 0;
          for (let r = 0; r < rows; r++) if (g[r] !== l[r]) legacyMismatches++;
        }
        cases.push({ variant: variantName(features), rows, cols, accumulate, integerMismatches, legacyMismatches, workgroups: plan.workgroups });
      }
    }
  }
  const result = { features: { ...ctx.kernelFeatures }, describe: ctx.describeKernels(), cases };
  ctx.destroy();
  return result;
}

/**
 * GpuModel on the tiled matvec with the device's features, on the portable tiled one (subgroups and dot4 turned
 * off) and on one row per thread (what CPU adapters get): the logits of a few tokens of tiny-ttt must be the same
 * bits (the matvec's sums are integers).
 */
export async function checkModelMatvecVariants(tokens: number[]): Promise<{ fast: string; portable: string; differingLogits: number; compared: number }> {
  const { GpuModel } = await import('../../src/engine/gpu/model');
  const { loadTiny } = await import('./parity');
  const file = await loadTiny('tiny-ttt');
  const logitsOf = async (ctx: GpuContext) => {
    const model = await GpuModel.create(ctx, file);
    const all: Float32Array[] = [];
    for (const t of tokens) all.push(await model.step(t));
    model.destroy();
    return all;
  };
  const fastCtx = await GpuContext.create({ kernelFeatures: { rowPerThread: false } });
  const portableCtx = await GpuContext.create({ kernelFeatures: { subgroups: false, dot4: false, rowPerThread: false } });
  const rowCtx = await GpuContext.create({ kernelFeatures: { rowPerThread: true } });
  try {
    const a = await logitsOf(fastCtx);
    let differingLogits = 0;
    let compared = 0;
    for (const other of [await logitsOf(portableCtx), await logitsOf(rowCtx)]) {
      a.forEach((l, i) => {
        const x = new Uint32Array(l.buffer);
        const y = new Uint32Array(other[i].buffer);
        for (let k = 0; k < x.length; k++, compared++) if (x[k] !== y[k]) differingLogits++;
      });
    }
    return { fast: fastCtx.describeKernels(), portable: `${portableCtx.describeKernels()}; ${rowCtx.describeKernels()}`, differingLogits, compared };
  } finally {
    fastCtx.destroy();
    portableCtx.destroy();
    rowCtx.destroy();
  }
}
