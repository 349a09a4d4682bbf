// Single kernels on random inputs against small CPU functions written here (independent of the engine's host
// code except the weight packer, which the bitlinear check exercises too).
import { GpuContext } from '../../src/engine/gpu/context';
import { KERNEL_CONSTANTS, SHADERS } from '../../src/engine/gpu/shaders';
import { packTernaryMatvec, packTernaryRows } from '../../src/engine/gpu/pack';
import { packFloatTable } from '../../src/engine/gpu/float-table';
import { f16BitsToF32, f32ToF16Bits } from '../../src/engine/format/f16';
import { matvecInputWords, matvecPlan } from '../../src/engine/gpu/bitlinear';
import type { KernelFeatures } from '../../src/engine/gpu/shaders';
import type { TernaryTensor } from '../../src/engine/types';
import { Rng } from '../../src/engine/util/rng';

const usage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

// A validation error (e.g. a missing override constant) fails the check instead of leaving zeros behind.
// A null buffer leaves its binding number out (one the entry point does not use).
async function run(ctx: GpuContext, shader: string, entry: string, constants: Record<string, number>, buffers: (GPUBuffer | null)[], groups: number | [number, number]) {
  ctx.device.pushErrorScope('validation');
  const pipeline = ctx.pipeline(shader, entry, constants);
  const bindGroup = ctx.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
  });
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  if (typeof groups === 'number') pass.dispatchWorkgroups(groups);
  else pass.dispatchWorkgroups(groups[0], groups[1]);
  pass.end();
  ctx.device.queue.submit([encoder.finish()]);
  const error = await ctx.device.popErrorScope();
  if (error) throw new Error(`${entry}: ${error.message}`);
}

/** The norm prologue's kinds (shaders/common.wgsl NORM_KIND) at sizes below 64, not a multiple of 64, and ≥ 256. */
const NORM_KINDS = [
  { name: 'rms', kind: 1, n: 160 },
  { name: 'rms+gate', kind: 2, n: 40 },
  { name: 'swiglu', kind: 3, n: 300 },
  { name: 'layer+gate', kind: 4, n: 256 },
];

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

  // The norm kernels (norm.wgsl, common.wgsl's prologue), every kind, over 3 rows, with one workgroup per row and with
  // one invocation per row: against the CPU (f64 sums), the int8 quantiser on the GPU's own floats, and the two
  // entry points against each other bit for bit (their sums run in the same order), counted into intMismatches.
  for (const kind of NORM_KINDS) {
    const rows = 3;
    const n = kind.n;
    const width = kind.name === 'swiglu' ? 2 * n : n;
    const src = f32(rows * width, () => 2 * rng.normal() + 0.3);
    const params = f32(2 * n, () => 1 + 0.2 * rng.normal());
    const gateStride = n + 5;
    const gate = f32(rows * gateStride, () => rng.normal());
    const constants = { NORM_KIND: kind.kind, NORM_N: n, NORM_EPS: 1e-5, NORM_SRC_STRIDE: width, NORM_BIAS_OFF: n, NORM_GATED: 1, NORM_GATE_OFF: 3, NORM_GATE_STRIDE: gateStride };
    const results: { dst: Float32Array; xq: Int32Array; xs: Float32Array }[] = [];
    for (const entry of ['norm_quant_rows', 'norm_quant_rows_serial']) {
      const dst = empty(rows * n * 4);
      const xq = empty(rows * n * 4);
      const xs = empty(rows * 4);
      await run(ctx, SHADERS.norm, entry, constants, [null, null, dst, xq, xs, null, buf(src), buf(params), buf(gate)], rows);
      results.push({ dst: new Float32Array(await ctx.readBuffer(dst)), xq: new Int32Array(await ctx.readBuffer(xq)), xs: new Float32Array(await ctx.readBuffer(xs)) });
    }
    const cpu: number[] = [];
    for (let r = 0; r < rows; r++) {
      const v = Array.from({ length: n }, (_, i) => {
        const a = src[r * width + i];
        return kind.name === 'swiglu' ? (a / (1 + Math.exp(-a))) * src[r * width + n + i] : a;
      });
      const mean = kind.name === 'layer+gate' ? v.reduce((x, y) => x + y, 0) / n : 0;
      const inv = 1 / Math.sqrt(v.reduce((x, y) => x + (y - mean) ** 2, 0) / n + 1e-5);
      const gelu = (a: number) => 0.5 * a * (1 + Math.tanh(0.7978845608 * (a + 0.044715 * a ** 3)));
      v.forEach((x, i) => {
        let y = (x - mean) * inv * params[i];
        if (kind.name === 'layer+gate') y += params[n + i];
        if (kind.name === 'rms+gate' || kind.name === 'layer+gate') y *= gelu(gate[r * gateStride + 3 + i]);
        cpu.push(y);
      });
    }
    const [wg, serial] = results;
    let mismatches = 0;
    for (let r = 0; r < rows; r++) {
      const row = wg.dst.subarray(r * n, (r + 1) * n);
      let absmax = 0;
      for (const v of row) absmax = Math.max(absmax, Math.abs(v));
      const scale = Math.fround(127 / Math.max(absmax, Math.fround(1e-5)));
      if (scale !== wg.xs[r]) mismatches++;
      row.forEach((v, i) => {
        if (Math.min(127, Math.max(-128, roundEven(Math.fround(v * scale)))) !== wg.xq[r * n + i]) mismatches++;
      });
    }
    const bits = (a: Float32Array) => new Uint32Array(a.buffer);
    for (const [x, y] of [[bits(wg.dst), bits(serial.dst)], [bits(wg.xs), bits(serial.xs)], [wg.xq, serial.xq]] as const) {
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) mismatches++;
    }
    out.push({ name: `norm ${kind.name}`, maxRelDiff: relDiff(wg.dst, cpu), intMismatches: mismatches });
  }

  // Embedding lookup and LM head, on an f32 table and on the f16-pair table the model uses for .bttt files
  // (gpu/float-table.ts), at an even and an odd width; the f16 table holds f16-rounded values, so both must match the
  // CPU exactly / to 1e-5. The chunk's head (lm_head_rows) over 21 tokens (a partial tile of 16) must also give each
  // token lm_head's logits bit for bit (differing bits counted into intMismatches).
  for (const D of [48, 47]) {
    for (const asF16 of [false, true]) {
      const V = 101; // not a multiple of the heads' rows per thread: the last thread's tail
      const table = f32(V * D, () => rng.normal());
      if (asF16) for (let i = 0; i < table.length; i++) table[i] = f16BitsToF32(f32ToF16Bits(table[i]));
      const packed = packFloatTable(table, V, D);
      if (packed.f16 !== asF16) throw new Error(`packFloatTable chose f16 = ${packed.f16}, expected ${asF16}`);
      const layout = { D, V, F16: asF16 ? 1 : 0, ROW_WORDS: packed.rowWords };
      const suffix = `${asF16 ? ' (f16 table)' : ''}${D % 2 ? ' (odd D)' : ''}`;
      const x = empty(D * 4);
      await run(ctx, SHADERS.embedding, 'embed', layout, [buf(new Uint32Array([42, 0, 0, 0])), buf(packed.words), x], 1);
      const gx = new Float32Array(await ctx.readBuffer(x));
      out.push({ name: 'embed' + suffix, maxRelDiff: relDiff(gx, table.subarray(42 * D, 43 * D)), intMismatches: 0 });
      const headGroups = Math.ceil(V / (KERNEL_CONSTANTS.WORKGROUP_SIZE * KERNEL_CONSTANTS.HEAD_ROWS_PER_THREAD));
      const cpuLogits = (xn: Float32Array) =>
        Array.from({ length: V }, (_, v) => {
          let acc = 0;
          for (let i = 0; i < D; i++) acc += table[v * D + i] * xn[i];
          return acc;
        });
      const xn = f32(D, () => rng.normal());
      const logits = empty(V * 4);
      const position = buf(new Uint32Array([7, 0, 0, 0]));
      await run(ctx, SHADERS.head, 'lm_head', { ...layout, ADVANCE: 1 }, [buf(packed.words), buf(xn), logits, position], headGroups);
      if (new Uint32Array(await ctx.readBuffer(position))[0] !== 8) throw new Error('lm_head with ADVANCE did not advance the position by one');
      out.push({ name: 'lm_head' + suffix, maxRelDiff: relDiff(new Float32Array(await ctx.readBuffer(logits)), cpuLogits(xn)), intMismatches: 0 });

      const tokens = 21;
      const tile = KERNEL_CONSTANTS.HEAD_TOKENS_PER_THREAD;
      const xnRows = Math.ceil(tokens / tile) * tile;
      const rowsXn = f32(tokens * D, () => rng.normal());
      const columnMajor = new Float32Array(D * xnRows); // [D, xnRows], as the final norm writes it
      for (let t = 0; t < tokens; t++) for (let i = 0; i < D; i++) columnMajor[i * xnRows + t] = rowsXn[t * D + i];
      const rowLogits = empty(tokens * V * 4);
      const rowsGroups: [number, number] = [Math.ceil(V / (KERNEL_CONSTANTS.WORKGROUP_SIZE * KERNEL_CONSTANTS.HEAD_CHUNK_ROWS_PER_THREAD)), Math.ceil(tokens / tile)];
      await run(ctx, SHADERS.head, 'lm_head_rows', { ...layout, XN_ROWS: xnRows }, [buf(packed.words), buf(columnMajor), rowLogits, ctx.createBufferWithData('scratch', 'test', new Uint32Array([tokens, 0, 0, 0]), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST)], rowsGroups);
      const gpuRows = new Float32Array(await ctx.readBuffer(rowLogits));
      let mismatches = 0;
      const cpuRows: number[] = [];
      for (let t = 0; t < tokens; t++) {
        const one = rowsXn.subarray(t * D, (t + 1) * D);
        cpuRows.push(...cpuLogits(one));
        const single = empty(V * 4);
        await run(ctx, SHADERS.head, 'lm_head', { ...layout, ADVANCE: 0 }, [buf(packed.words), buf(one), single, position], headGroups);
        const a = new Uint32Array(await ctx.readBuffer(single));
        const b = new Uint32Array(gpuRows.buffer, t * V * 4, V);
        for (let v = 0; v < V; v++) if (a[v] !== b[v]) mismatches++;
      }
      out.push({ name: 'lm_head_rows' + suffix, maxRelDiff: relDiff(gpuRows, cpuRows), intMismatches: mismatches });
    }
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
  /**
   * The fused form (the decode step's: its input normalised and quantised in the prologue, RMSNorm or SwiGLU +
   * RMSNorm by shape) against norm.wgsl followed by the plain matvec of the same variant: differing y words plus
   * differing words of the f32 normalised row it also stores.
   */
  fusedKind: string;
  fusedMismatches: number;
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
  for (const [shapeIndex, [rows, cols, accumulate]] of shapes.entries()) {
    const top = Math.ceil(rows / 3);
    const a = tensor(top, cols, 0.03);
    const b = tensor(rows - top, cols, 0.05);
    // Whole chunks of 64 columns as the engine allocates them (bitlinear_row reads them); the padding holds values
    // that must not count (its weights are 0), int8 as the engine's always are (bitlinear_row's pair sums need it).
    const xq = Int32Array.from({ length: matvecInputWords(cols) }, (_, i) => (i < cols ? rng.int(256) - 128 : 99));
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
    // The fused form's input: a row for RMSNorm, or [a | c] for SwiGLU + RMSNorm, on alternate shapes.
    const fusedKind = shapeIndex % 2 === 0 ? NORM_KINDS[0] : NORM_KINDS[2];
    const width = fusedKind.name === 'swiglu' ? 2 * cols : cols;
    const normSrc = buf(Float32Array.from({ length: width }, () => 2 * rng.normal()));
    const gain = buf(Float32Array.from({ length: cols }, () => 1 + 0.2 * rng.normal()));
    const normConstants = { NORM_KIND: fusedKind.kind, NORM_N: cols, NORM_EPS: 1e-5, NORM_SRC_STRIDE: width };
    const normInputs = [normSrc, gain, buf(new Float32Array(4))];
    const normDst = buf(new Float32Array(cols));
    const normXq = buf(new Int32Array(matvecInputWords(cols)).fill(-77)); // the norm writes the first cols
    const normXs = buf(new Float32Array(4));
    await run(ctx, SHADERS.norm, 'norm_quant_rows', normConstants, [null, null, normDst, normXq, normXs, null, ...normInputs], 1);
    const normRow = new Uint32Array(await ctx.readBuffer(normDst));
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
        const plain = buf(y0);
        await run(ctx, plan.shader, plan.entryPoint, plan.constants, [wordsBuf, realScales, normXq, normXs, plain], plan.workgroups);
        const fusedPlan = matvecPlan(rows, cols, accumulate, features, ctx.maxWorkgroupBytes, undefined, true);
        const fused = buf(y0);
        const normOut = buf(new Float32Array(cols));
        await run(ctx, fusedPlan.shader, fusedPlan.entryPoint, { ...fusedPlan.constants, ...normConstants, WRITE_NORM_OUT: 1 }, [wordsBuf, realScales, null, null, fused, null, ...normInputs, normOut], fusedPlan.workgroups);
        const want = new Uint32Array(await ctx.readBuffer(plain));
        const got = new Uint32Array(await ctx.readBuffer(fused));
        const gotRow = new Uint32Array(await ctx.readBuffer(normOut));
        let fusedMismatches = 0;
        for (let r = 0; r < rows; r++) if (got[r] !== want[r]) fusedMismatches++;
        for (let i = 0; i < cols; i++) if (gotRow[i] !== normRow[i]) fusedMismatches++;
        cases.push({ variant: variantName(features), rows, cols, accumulate, integerMismatches, legacyMismatches, fusedKind: fusedKind.name, fusedMismatches, workgroups: plan.workgroups });
      }
    }
  }
  const result = { features: { ...ctx.kernelFeatures }, describe: ctx.describeKernels(), cases };
  ctx.destroy();
  return result;
}

/**
 * GpuModel on the tiled matvec with the device's features, on the portable tiled one (subgroups and dot4 turned
 * off) — both with the norms fused into the matvecs — and on one row per thread with the norms as dispatches of
 * their own (what CPU adapters get) and fused (bitlinear_row_norm): the logits of a few tokens of tiny-ttt must be
 * the same bits (the matvec's sums are integers, the norms' sums run in one order everywhere).
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
  const rowCtx = await GpuContext.create({ kernelFeatures: { rowPerThread: true, fusedNorms: false } });
  const rowFusedCtx = await GpuContext.create({ kernelFeatures: { rowPerThread: true, fusedNorms: true } });
  try {
    const a = await logitsOf(fastCtx);
    let differingLogits = 0;
    let compared = 0;
    for (const other of [await logitsOf(portableCtx), await logitsOf(rowCtx), await logitsOf(rowFusedCtx)]) {
      a.forEach((l, i) => {
        const x = new Uint32Array(l.buffer);
        const y = new Uint32Array(other[i].buffer);
        for (let k = 0; k < x.length; k++, compared++) if (x[k] !== y[k]) differingLogits++;
      });
    }
    return { fast: fastCtx.describeKernels(), portable: `${portableCtx.describeKernels()}; ${rowCtx.describeKernels()}; ${rowFusedCtx.describeKernels()}`, differingLogits, compared };
  } finally {
    fastCtx.destroy();
    portableCtx.destroy();
    rowCtx.destroy();
    rowFusedCtx.destroy();
  }
}

export interface SerialHeadsCheck {
  adapter: string;
  tokens: number;
  /** Logits, drift stats (steps with drift) and the saved state that differ in any bit between the two paths. */
  differingLogits: number;
  differingDrift: number;
  differingState: number;
  compared: number;
  /** Drift floats compared (0 for a model without TTT layers). */
  driftCompared: number;
}

/**
 * The decode step's per-head kernels on few threads per head (ttt_step_few, attend_step[_conv]_serial) against
 * the workgroup kernels (ttt_step, attend_step[_conv]), on `file` or on the tiny config with `overrides`: `tokens`
 * steps, drift on every other step, must give the same logits, drift stats and saved state, bit for bit.
 */
export async function checkSerialHeads(name: string | null, overrides: Record<string, unknown>, tokens: number): Promise<SerialHeadsCheck> {
  const { GpuModel } = await import('../../src/engine/gpu/model');
  const { loadTiny, tokenSequence } = await import('./parity');
  const { randomModel } = await import('../../src/engine/model/random');
  const { TINY_MODELS, TINY_TOKENIZER } = await import('../../src/engine/format/tiny');
  const file = name ? await loadTiny(name) : randomModel({ ...TINY_MODELS[0].config, ...overrides } as typeof TINY_MODELS[0]['config'], TINY_TOKENIZER, 77);
  const run = async (fewHeadThreads: boolean) => {
    const ctx = await GpuContext.create({ kernelFeatures: { fewHeadThreads } });
    try {
      const model = await GpuModel.create(ctx, file, { kvInitialTokens: 8 });
      const logits: Uint32Array[] = [];
      const drift: number[] = [];
      for (const [i, t] of tokenSequence(tokens, file.config.vocabSize).entries()) {
        const drifted = i % 2 === 1;
        logits.push(new Uint32Array((await model.step(t, { drift: drifted })).buffer));
        if (drifted) for (const layer of await model.readDrift()) for (const h of layer.heads) drift.push(h.norm, h.cos, h.lossBefore, h.lossAfter, h.w0Norm);
      }
      const state = new Uint8Array(await model.saveState());
      model.destroy();
      return { logits, drift: new Uint32Array(Float32Array.from(drift).buffer), state, adapter: ctx.adapterInfo };
    } finally {
      ctx.destroy();
    }
  };
  const a = await run(false);
  const b = await run(true);
  let differingLogits = 0;
  let compared = 0;
  a.logits.forEach((l, i) => l.forEach((x, k) => { compared++; if (x !== b.logits[i][k]) differingLogits++; }));
  const differingDrift = a.drift.length !== b.drift.length ? -1 : a.drift.filter((x, i) => x !== b.drift[i]).length;
  const differingState = a.state.length !== b.state.length ? -1 : a.state.filter((x, i) => x !== b.state[i]).length;
  return { adapter: a.adapter, tokens, differingLogits, differingDrift, differingState, compared, driftCompared: a.drift.length };
}
