// A lab for the prefill chunk's matrix product on CPU adapters: bitlinear_rows_pairs and candidate kernels timed against
// bitlinear_rows, interleaved (engine, A, B, … per trial), each checked bit for bit against bitlinear_rows' y. A measurement,
// not a test: run by rows-lab.spec.ts (ROWS_LAB=1). Sibling of matvec-lab.ts (the decode matvec).
import { GpuContext } from '../../src/engine/gpu/context';
import { bitlinearShader, KERNEL_CONSTANTS } from '../../src/engine/gpu/shaders';
import { packTernaryMatvec } from '../../src/engine/gpu/pack';
import { Rng } from '../../src/engine/util/rng';
import { dispatchOnce, timeInterleaved } from './lab-timing';
import type { TernaryTensor } from '../../src/engine/types';
import type { LabRow } from './matvec-lab';

interface Candidate {
  name: string;
  /** WGSL (bindings 0..5 as bitlinear_rows, weights as vec4<u32> chunks), entry point `main`. */
  shader: string;
  /** Workgroups (x, y) for `rows` output rows and `tokens` tokens. */
  workgroups: (rows: number, tokens: number) => [number, number];
}

const HEAD = (wg: number) => `
override IN: u32;
override OUT: u32;
override ACCUMULATE: bool = false;
override XQ_ROWS: u32 = 4u;
override CHUNKS: u32 = (IN + 63u) / 64u;
override GROUPS: u32 = XQ_ROWS / 4u;
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> row_scale: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<i32>>;
@group(0) @binding(3) var<storage, read> xscale: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> chunk: vec4<u32>;
const WG: u32 = ${wg}u;
const PAIR_MASK: i32 = 0x00030003;
fn store_tokens(row: u32, first: u32, sums: vec4<i32>) {
  let n = min(4u, chunk.x - first);
  for (var r = 0u; r < n; r++) {
    let token = first + r;
    let value = f32(sums[r]) * (row_scale[row] / xscale[token]);
    let at = token * OUT + row;
    if (ACCUMULATE) { y[at] = y[at] + value; } else { y[at] = value; }
  }
}
// Σ code·x over the 16 columns of a word for 4 tokens, in the high fields: p[j], q[j] are the X of columns 4j + {0, 2}, 4j + {1, 3}.
fn word_pairs4(w: i32, p0: vec4<i32>, q0: vec4<i32>, p1: vec4<i32>, q1: vec4<i32>, p2: vec4<i32>, q2: vec4<i32>, p3: vec4<i32>, q3: vec4<i32>) -> vec4<i32> {
  return (w & PAIR_MASK) * p0 + ((w >> 8u) & PAIR_MASK) * q0
       + ((w >> 2u) & PAIR_MASK) * p1 + ((w >> 10u) & PAIR_MASK) * q1
       + ((w >> 4u) & PAIR_MASK) * p2 + ((w >> 12u) & PAIR_MASK) * q2
       + ((w >> 6u) & PAIR_MASK) * p3 + ((w >> 14u) & PAIR_MASK) * q3;
}
`;

/**
 * The pair trick (see bitlinear_row) for the chunk: `rows` rows × 4·`groups` tokens per invocation, loops over the
 * rows and the words of a chunk (as the engine's WGSL would be written by hand), workgroups of `wg`.
 */
function loopedPair(rows: number, groups: number, wg: number, lanesOverTokens = false): Candidate {
  const G = Array.from({ length: groups }, (_, i) => i);
  const shader = `${HEAD(wg)}
const R: u32 = ${rows}u;
override INVOCATIONS: u32 = (OUT + R - 1u) / R;
@compute @workgroup_size(${lanesOverTokens ? '1, WG' : 'WG'})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= INVOCATIONS${lanesOverTokens ? ` || gid.y >= (chunk.x + ${4 * groups - 1}u) / ${4 * groups}u` : ''}) { return; }
  let row0 = gid.x * R;
${G.map((g) => `  var acc${g} = array<vec4<i32>, R>();\n  var xs${g} = vec4<i32>(0);`).join('\n')}
  for (var c = 0u; c < CHUNKS; c++) {
${G.map((g) => `    var p${g}: array<vec4<i32>, 16>;\n    var q${g}: array<vec4<i32>, 16>;`).join('\n')}
    for (var i = 0u; i < 16u; i++) {
      let at = (64u * c + 4u * i) * GROUPS + ${groups}u * gid.y;
${G.map((g) => `      { let x0 = xq[at + ${g}u]; let x1 = xq[at + GROUPS + ${g}u]; let x2 = xq[at + 2u * GROUPS + ${g}u]; let x3 = xq[at + 3u * GROUPS + ${g}u];
        xs${g} += x0 + x1 + x2 + x3; p${g}[i] = x2 + 65536 * x0; q${g}[i] = x3 + 65536 * x1; }`).join('\n')}
    }
${G.map((g) => Array.from({ length: 16 }, (_, i) => `    let p${g}_${i} = p${g}[${i}]; let q${g}_${i} = q${g}[${i}];`).join('\n')).join('\n')}
    for (var r = 0u; r < R; r++) {
      let wv = bitcast<vec4<i32>>(w[min(row0 + r, OUT - 1u) * CHUNKS + c]);
${G.map((g) => {
    const wp = (k: string, b: number) => `word_pairs4(wv.${k}, p${g}_${b}, q${g}_${b}, p${g}_${b + 1}, q${g}_${b + 1}, p${g}_${b + 2}, q${g}_${b + 2}, p${g}_${b + 3}, q${g}_${b + 3})`;
    return `      { let s = ${wp('x', 0)} + ${wp('y', 4)} + ${wp('z', 8)} + ${wp('w', 12)};
        acc${g}[r] += (s + vec4<i32>(0x8000)) >> vec4<u32>(16u); }`;
  }).join('\n')}
    }
  }
  for (var r = 0u; r < R; r++) {
    if (row0 + r < OUT) {
${G.map((g) => `      if (${groups}u * gid.y + ${g}u < (chunk.x + 3u) / 4u) { store_tokens(row0 + r, 4u * (${groups}u * gid.y + ${g}u), acc${g}[r] - xs${g}); }`).join('\n')}
    }
  }
}
`;
  if (lanesOverTokens) return { name: `pair r${rows} t${4 * groups} wg1x${wg}`, shader, workgroups: (r, t) => [Math.ceil(r / rows), Math.ceil(Math.ceil(t / (4 * groups)) / wg)] };
  return { name: `pair r${rows} t${4 * groups} wg${wg}`, shader, workgroups: (r, t) => [Math.ceil(Math.ceil(r / rows) / wg), Math.ceil(t / (4 * groups))] };
}

/** The same, fully unrolled (every row and column index a constant): 8 rows × 4 tokens per invocation. */
function unrolledPair(rows: number, wg: number): Candidate {
  const lines: string[] = [HEAD(wg)];
  lines.push(`override INVOCATIONS: u32 = (OUT + ${rows - 1}u) / ${rows}u;`);
  lines.push('@compute @workgroup_size(WG)');
  lines.push('fn main(@builtin(global_invocation_id) gid: vec3<u32>) {');
  lines.push('  if (gid.x >= INVOCATIONS) { return; }');
  for (let r = 0; r < rows; r++) lines.push(`  let row${r} = min(gid.x * ${rows}u + ${r}u, OUT - 1u);\n  var acc${r} = vec4<i32>(0);`);
  lines.push('  var xs = vec4<i32>(0);');
  lines.push('  for (var c = 0u; c < CHUNKS; c++) {');
  lines.push('    let at = 64u * c * GROUPS + gid.y;');
  for (let i = 0; i < 16; i++) {
    lines.push(`    let x${i}a = xq[at + ${4 * i}u * GROUPS]; let x${i}b = xq[at + ${4 * i + 1}u * GROUPS]; let x${i}c = xq[at + ${4 * i + 2}u * GROUPS]; let x${i}d = xq[at + ${4 * i + 3}u * GROUPS];`);
    lines.push(`    xs += x${i}a + x${i}b + x${i}c + x${i}d; let p${i} = x${i}c + 65536 * x${i}a; let q${i} = x${i}d + 65536 * x${i}b;`);
  }
  for (let r = 0; r < rows; r++) {
    lines.push(`    let w${r} = bitcast<vec4<i32>>(w[row${r} * CHUNKS + c]);`);
    const wp = (k: string, b: number) => `word_pairs4(w${r}.${k}, p${b}, q${b}, p${b + 1}, q${b + 1}, p${b + 2}, q${b + 2}, p${b + 3}, q${b + 3})`;
    lines.push(`    acc${r} += (${wp('x', 0)} + ${wp('y', 4)} + ${wp('z', 8)} + ${wp('w', 12)} + vec4<i32>(0x8000)) >> vec4<u32>(16u);`);
  }
  lines.push('  }');
  for (let r = 0; r < rows; r++) lines.push(`  if (gid.x * ${rows}u + ${r}u < OUT) { store_tokens(row${r}, 4u * gid.y, acc${r} - xs); }`);
  lines.push('}');
  return { name: `unrolled r${rows} t4 wg${wg}`, shader: lines.join('\n'), workgroups: (r, t) => [Math.ceil(Math.ceil(r / rows) / wg), Math.ceil(t / 4)] };
}

export const CANDIDATES: Record<string, Candidate> = Object.fromEntries(
  [
    loopedPair(8, 1, 64),
    loopedPair(8, 1, 16),
    loopedPair(8, 1, 4),
    loopedPair(16, 1, 4),
    loopedPair(16, 1, 8),
    loopedPair(32, 1, 4),
    loopedPair(32, 1, 2),
    loopedPair(32, 1, 8),
    loopedPair(32, 1, 16),
    loopedPair(64, 1, 4),
    loopedPair(64, 1, 2),
    loopedPair(64, 1, 8),
    loopedPair(128, 1, 4),
    loopedPair(32, 1, 4, true),
    loopedPair(64, 1, 4, true),
    loopedPair(16, 1, 4, true),
    loopedPair(48, 1, 4),
    loopedPair(32, 2, 4),
    loopedPair(4, 1, 16),
    loopedPair(8, 2, 4),
    loopedPair(8, 2, 8),
    loopedPair(16, 2, 4),
    loopedPair(4, 2, 8),
    unrolledPair(8, 4),
    unrolledPair(8, 16),
    unrolledPair(16, 4),
  ].map((c) => [c.name, c]),
);


/**
 * For each shape: the engine's bitlinear_rows (as the engine dispatches it) and the named candidates over `tokens`
 * tokens (xq with XQ_ROWS = tokens padded to 16), `trials` interleaved trials of about `targetMs` each; y compared
 * bit for bit with the engine's on `checks` random inputs (the first with extreme x: ±127/−128).
 */
export async function runLab(shapes: [number, number][], names: string[], tokens = 64, trials = 5, targetMs = 60, checks = 3): Promise<{ adapter: string; rows: LabRow[] }> {
  const ctx = await GpuContext.create({ timestamps: true });
  if (!ctx.features.has('timestamp-query')) throw new Error('no timestamp queries');
  const rng = new Rng(13);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const xqRows = Math.ceil(tokens / 16) * 16;
  const out: LabRow[] = [];
  try {
    for (const [rows, cols] of shapes) {
      const shape = `${rows}×${cols}`;
      const buffers: GPUBuffer[] = [];
      const buf = (data: ArrayBufferView, u = usage) => {
        const b = ctx.createBufferWithData('scratch', 'lab', data, u);
        buffers.push(b);
        return b;
      };
      const tensor: TernaryTensor = { kind: 'ternary', shape: [rows, cols], scale: 0.02, values: Int8Array.from({ length: rows * cols }, () => rng.int(3) - 1) };
      const m = packTernaryMatvec([tensor]);
      const scales = buf(Float32Array.from({ length: rows }, () => 0.01 + rng.int(1000) / 1000));
      const paddedCols = Math.ceil(cols / 64) * 64;
      const xq = buf(new Int32Array(paddedCols * xqRows));
      const xscale = buf(Float32Array.from({ length: xqRows }, () => 0.5 + rng.int(1000) / 250));
      const info = buf(new Uint32Array([tokens, 0, 0, 0]), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const constants = { IN: cols, OUT: rows, ACCUMULATE: 0, XQ_ROWS: xqRows };
      const runs: { name: string; pipeline: GPUComputePipeline; workgroups: [number, number]; bind: GPUBindGroup; y: GPUBuffer }[] = [];
      const add = (name: string, pipeline: GPUComputePipeline, workgroups: [number, number]) => {
        const y = buf(new Float32Array(tokens * rows));
        const entries = [m.words, scales, xq, xscale, y, info].map((b, binding) => ({ binding, resource: { buffer: binding === 0 ? buf(b as Uint32Array) : (b as GPUBuffer) } }));
        runs.push({ name, pipeline, workgroups, y, bind: ctx.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) });
      };
      add('engine bitlinear_rows', ctx.pipeline(bitlinearShader({ subgroups: false, dot4: false, rowPerThread: true }), 'bitlinear_rows', constants), [Math.ceil(Math.ceil(rows / 8) / 64), Math.ceil(tokens / 4)]);
      const { BITLINEAR_PAIRS_ROWS_PER_THREAD: pr, BITLINEAR_PAIRS_WORKGROUP_SIZE: pw } = KERNEL_CONSTANTS;
      add('engine bitlinear_rows_pairs', ctx.pipeline(bitlinearShader({ subgroups: false, dot4: false, rowPerThread: true }), 'bitlinear_rows_pairs', constants), [Math.ceil(Math.ceil(rows / pr) / pw), Math.ceil(tokens / 4)]);
      for (const n of names) {
        const c = CANDIDATES[n];
        if (!c) throw new Error(`no candidate ${n}`);
        add(n, ctx.pipeline(c.shader, 'main', constants), c.workgroups(rows, tokens));
      }
      const exact = runs.map(() => true);
      for (let check = 0; check < checks; check++) {
        // Column-major [paddedCols, xqRows]; every value int8 (padding rows and columns included, as in the engine).
        const x = Int32Array.from({ length: paddedCols * xqRows }, (_, i) => (check === 0 ? (i % 3 === 0 ? 127 : -128) : check === 1 && i % 5 === 0 ? 127 : rng.int(256) - 128));
        ctx.device.queue.writeBuffer(xq, 0, x);
        await dispatchOnce(ctx, runs);
        const ys = await Promise.all(runs.map(async (r) => new Uint32Array(await ctx.readBuffer(r.y))));
        runs.forEach((_, i) => {
          if (!ys[i].every((v, k) => v === ys[0][k])) exact[i] = false;
        });
      }
      const us = await timeInterleaved(ctx, runs, trials, targetMs);
      runs.forEach((r, i) => out.push({ shape, candidate: r.name, us: us[i], exact: exact[i] }));
      for (const b of buffers) ctx.destroyBuffer(b);
    }
    return { adapter: ctx.adapterInfo, rows: out };
  } finally {
    ctx.destroy();
  }
}

export function candidateNames(): string[] {
  return Object.keys(CANDIDATES);
}
