// A lab for the decode matvec on CPU adapters (bitlinear_row): candidate kernels timed against the engine's, interleaved
// (engine, A, B, … per trial), each checked bit for bit against the engine's y. A measurement, not a test: run by
// matvec-lab.spec.ts (MATVEC_LAB=1).
import { GpuContext } from '../../src/engine/gpu/context';
import { matvecInputWords, matvecPlan } from '../../src/engine/gpu/bitlinear';
import { packTernaryMatvec } from '../../src/engine/gpu/pack';
import { Rng } from '../../src/engine/util/rng';
import { timeDispatches, type Prep } from './lab-timing';
import type { TernaryTensor } from '../../src/engine/types';

export interface LabRow {
  shape: string;
  candidate: string;
  /** µs per call, one per trial. */
  us: number[];
  /** Whether y equals the engine's bit for bit (on every check input). */
  exact: boolean;
}

interface Candidate {
  name: string;
  /** WGSL for the shape (bindings 0..4 as bitlinear_row), entry point `main`. */
  shader: (rows: number, cols: number) => string;
  workgroups: (rows: number) => number;
  /** Weights in this candidate's layout, from the engine's matvec words. */
  weights?: (words: Uint32Array, rows: number, chunks: number) => Uint32Array;
  /**
   * A table-building dispatch recorded before each call (binding 2 = xq, binding 5 = the i32 table, read_write;
   * the main kernel reads the table at binding 5): its time counts.
   */
  prep?: { shader: string; workgroups: (cols: number) => number; tableWords: (cols: number) => number; untimed?: boolean };
}

const HEAD = (wg: number) => `
override IN: u32;
override OUT: u32;
override ACCUMULATE: bool = false;
override CHUNKS: u32 = (IN + 63u) / 64u;
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> row_scale: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<i32>>;
@group(0) @binding(3) var<storage, read> xscale: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
fn store_row(row: u32, sum: i32) {
  let value = f32(sum) * (row_scale[row] / xscale[0]);
  if (ACCUMULATE) { y[row] = y[row] + value; } else { y[row] = value; }
}
const WG: u32 = ${wg}u;
`;

/**
 * Two columns per i32 multiply: with codes c = w + 1 at bits 0..1 and 16..17 of C (c_p, c_q) and X = x_q + 65536·x_p,
 * C·X = c_p·x_q + 65536·(c_p·x_p + c_q·x_q) (mod 2^32). Over the 32 products of a 64-column chunk the low field L
 * stays within ±2^15 and the high one H within ±2^14, so H = (Σ C·X + 0x8000) >> 16 exactly; Σ w·x = Σ H − Σ x.
 * `rows` rows per invocation; layout 'row': w[row·CHUNKS + c] (the engine's); 'inter': w[c·OUT + row] and an
 * invocation's rows are gid, gid + N, … (neighbouring lanes read neighbouring vec4s).
 */
function pairKernel(rows: number, wg: number, layout: 'row' | 'inter'): Candidate {
  const shader = () => {
    const lines: string[] = [HEAD(wg)];
    lines.push(`override INVOCATIONS: u32 = (OUT + ${rows - 1}u) / ${rows}u;`);
    lines.push('@compute @workgroup_size(WG)');
    lines.push('fn main(@builtin(global_invocation_id) gid: vec3<u32>) {');
    lines.push('  if (gid.x >= INVOCATIONS) { return; }');
    for (let q = 0; q < rows; q++) {
      const row = layout === 'row' ? `gid.x * ${rows}u + ${q}u` : `gid.x + ${q}u * INVOCATIONS`;
      lines.push(`  let row${q} = min(${row}, OUT - 1u);`);
      lines.push(`  var acc${q} = 0;`);
    }
    lines.push('  var xs = vec4<i32>(0);');
    lines.push('  for (var c = 0u; c < CHUNKS; c++) {');
    for (let i = 0; i < 16; i++) {
      lines.push(`    let x${i} = xq[16u * c + ${i}u];`);
      lines.push(`    let p${i} = x${i}.z + 65536 * x${i}.x;`);
      lines.push(`    let q${i} = x${i}.w + 65536 * x${i}.y;`);
      lines.push(`    xs += x${i};`);
    }
    const M = '0x00030003';
    for (let q = 0; q < rows; q++) {
      const at = layout === 'row' ? `row${q} * CHUNKS + c` : `c * OUT + row${q}`;
      lines.push(`    let w${q} = bitcast<vec4<i32>>(w[${at}]);`);
      const terms: string[] = [];
      ['x', 'y', 'z', 'w'].forEach((k, ki) => {
        for (let j = 0; j < 4; j++) {
          const i = 4 * ki + j;
          const s0 = 2 * j;
          const s1 = 2 * j + 8;
          terms.push(`((w${q}.${k}${s0 ? ` >> ${s0}u` : ''}) & ${M}) * p${i}`);
          terms.push(`((w${q}.${k} >> ${s1}u) & ${M}) * q${i}`);
        }
      });
      lines.push(`    var a${q} = ${terms[0]};`);
      for (const t of terms.slice(1)) lines.push(`    a${q} += ${t};`);
      lines.push(`    acc${q} += (a${q} + 0x8000) >> 16u;`);
    }
    lines.push('  }');
    lines.push('  let xsum = xs.x + xs.y + xs.z + xs.w;');
    for (let q = 0; q < rows; q++) {
      const row = layout === 'row' ? `gid.x * ${rows}u + ${q}u` : `gid.x + ${q}u * INVOCATIONS`;
      lines.push(`  if (${row} < OUT) { store_row(row${q}, acc${q} - xsum); }`);
    }
    lines.push('}');
    return lines.join('\n');
  };
  return {
    name: `pair r${rows} wg${wg} ${layout}`,
    shader,
    workgroups: (r) => Math.ceil(Math.ceil(r / rows) / wg),
    weights: layout === 'row' ? undefined : interleave,
  };
}

/**
 * The pair kernel as it would be written by hand in shaders/bitlinear.wgsl: helper functions for a word and a chunk,
 * a dynamic loop over the invocation's rows with the sums in a private array.
 */
function loopedPair(rows: number, wg: number): Candidate {
  const shader = () => `${HEAD(wg)}
const R: u32 = ${rows}u;
override INVOCATIONS: u32 = (OUT + R - 1u) / R;
const PAIR_MASK: i32 = 0x00030003;
// Σ over the 16 columns of a word of code·x, 65536 times over (plus a low field): p, q hold the operands of its j = 0..3.
fn word_pairs(w: i32, p: vec4<i32>, q: vec4<i32>) -> i32 {
  return (w & PAIR_MASK) * p.x + ((w >> 8u) & PAIR_MASK) * q.x
       + ((w >> 2u) & PAIR_MASK) * p.y + ((w >> 10u) & PAIR_MASK) * q.y
       + ((w >> 4u) & PAIR_MASK) * p.z + ((w >> 12u) & PAIR_MASK) * q.z
       + ((w >> 6u) & PAIR_MASK) * p.w + ((w >> 14u) & PAIR_MASK) * q.w;
}
fn pair_operands(a: vec4<i32>, b: vec4<i32>, c: vec4<i32>, d: vec4<i32>, hi: u32, lo: u32) -> vec4<i32> {
  return vec4<i32>(a[lo], b[lo], c[lo], d[lo]) + 65536 * vec4<i32>(a[hi], b[hi], c[hi], d[hi]);
}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= INVOCATIONS) { return; }
  let row0 = gid.x * R;
  var acc = array<i32, R>();
  var xs = vec4<i32>(0);
  for (var c = 0u; c < CHUNKS; c++) {
    var p: array<vec4<i32>, 4>;
    var q: array<vec4<i32>, 4>;
    for (var k = 0u; k < 4u; k++) {
      let x0 = xq[16u * c + 4u * k];
      let x1 = xq[16u * c + 4u * k + 1u];
      let x2 = xq[16u * c + 4u * k + 2u];
      let x3 = xq[16u * c + 4u * k + 3u];
      xs += x0 + x1 + x2 + x3;
      p[k] = vec4<i32>(x0.z, x1.z, x2.z, x3.z) + 65536 * vec4<i32>(x0.x, x1.x, x2.x, x3.x);
      q[k] = vec4<i32>(x0.w, x1.w, x2.w, x3.w) + 65536 * vec4<i32>(x0.y, x1.y, x2.y, x3.y);
    }
    let p0 = p[0]; let p1 = p[1]; let p2 = p[2]; let p3 = p[3];
    let q0 = q[0]; let q1 = q[1]; let q2 = q[2]; let q3 = q[3];
    for (var r = 0u; r < R; r++) {
      let wv = bitcast<vec4<i32>>(w[min(row0 + r, OUT - 1u) * CHUNKS + c]);
      let h = word_pairs(wv.x, p0, q0) + word_pairs(wv.y, p1, q1) + word_pairs(wv.z, p2, q2) + word_pairs(wv.w, p3, q3);
      acc[r] += (h + 0x8000) >> 16u;
    }
  }
  let xsum = xs.x + xs.y + xs.z + xs.w;
  for (var r = 0u; r < R; r++) {
    if (row0 + r < OUT) { store_row(row0 + r, acc[r] - xsum); }
  }
}
`;
  return { name: `looped r${rows} wg${wg}`, shader, workgroups: (r) => Math.ceil(Math.ceil(r / rows) / wg) };
}

/**
 * Lookup table (T-MAC / BitNet TL style): for each byte of a weight word (the codes of 4 columns 16k + 4j + b,
 * j = 0..3, of chunk c; group g = 16c + 4k + b) the 256 sums Σ code·x, built by a dispatch of its own per input;
 * then a row costs one table lookup per 4 columns. Σ w·x = Σ lookups − Σ x.
 */
function lutKernel(rows: number, wg: number): Candidate {
  const prep = `
override IN: u32;
override CHUNKS: u32 = (IN + 63u) / 64u;
@group(0) @binding(2) var<storage, read> xq: array<vec4<i32>>;
@group(0) @binding(5) var<storage, read_write> lut: array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= CHUNKS * 16u * 256u) { return; }
  let g = e / 256u;
  let v = e % 256u;
  let c = g / 16u;
  let k = (g / 4u) % 4u;
  let b = g % 4u;
  var sum = 0;
  for (var j = 0u; j < 4u; j++) { sum += i32((v >> (2u * j)) & 3u) * xq[16u * c + 4u * k + j][b]; }
  lut[e] = sum;
}
`;
  const shader = () => `${HEAD(wg)}
@group(0) @binding(5) var<storage, read> lut: array<i32>;
const R: u32 = ${rows}u;
override INVOCATIONS: u32 = (OUT + R - 1u) / R;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= INVOCATIONS) { return; }
  let row0 = gid.x * R;
  var xs = vec4<i32>(0);
  for (var i = 0u; i < CHUNKS * 16u; i++) { xs += xq[i]; }
  let xsum = xs.x + xs.y + xs.z + xs.w;
  for (var r = 0u; r < R; r++) {
    let row = min(row0 + r, OUT - 1u);
    var acc = 0;
    for (var c = 0u; c < CHUNKS; c++) {
      let wv = w[row * CHUNKS + c];
      let base = c * 4096u;
      for (var k = 0u; k < 4u; k++) {
        let word = wv[k];
        let at = base + k * 1024u;
        acc += lut[at + (word & 255u)] + lut[at + 256u + ((word >> 8u) & 255u)]
             + lut[at + 512u + ((word >> 16u) & 255u)] + lut[at + 768u + (word >> 24u)];
      }
    }
    if (row0 + r < OUT) { store_row(row0 + r, acc - xsum); }
  }
}
`;
  return {
    name: `lut r${rows} wg${wg}`,
    shader,
    workgroups: (r) => Math.ceil(Math.ceil(r / rows) / wg),
    prep: { shader: prep, workgroups: (cols) => Math.ceil((Math.ceil(cols / 64) * 16 * 256) / 64), tableWords: (cols) => Math.ceil(cols / 64) * 16 * 256 },
  };
}

/** A table candidate timed without its table build (built once, before the timing): the lookups' own cost. */
function lookupsOnly(c: Candidate): Candidate {
  return { ...c, name: `${c.name} lookups only`, prep: c.prep && { ...c.prep, untimed: true } };
}

/** The engine's bitlinear_row before this lab (2 rows per invocation, vec4 codes × vec4 x; commit bf64e30). */
function formerRow(): Candidate {
  const shader = () => `${HEAD(64)}
fn row_codes(word: u32, j: u32) -> vec4<i32> {
  return vec4<i32>((vec4<u32>(word) >> vec4<u32>(2u * j, 2u * j + 8u, 2u * j + 16u, 2u * j + 24u)) & vec4<u32>(3u)) - vec4<i32>(1);
}
override ROW_PAIRS: u32 = (OUT + 1u) / 2u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= ROW_PAIRS) { return; }
  let row0 = 2u * gid.x;
  let row1 = min(row0 + 1u, OUT - 1u);
  var acc0 = vec4<i32>(0);
  var acc1 = vec4<i32>(0);
  for (var c = 0u; c < CHUNKS; c++) {
    let chunk0 = w[row0 * CHUNKS + c];
    let chunk1 = w[row1 * CHUNKS + c];
    for (var k = 0u; k < 4u; k++) {
      for (var j = 0u; j < 4u; j++) {
        let x = xq[16u * c + 4u * k + j];
        acc0 += row_codes(chunk0[k], j) * x;
        acc1 += row_codes(chunk1[k], j) * x;
      }
    }
  }
  store_row(row0, acc0.x + acc0.y + acc0.z + acc0.w);
  if (row0 + 1u < OUT) { store_row(row1, acc1.x + acc1.y + acc1.z + acc1.w); }
}
`;
  return { name: 'former bitlinear_row', shader, workgroups: (r) => Math.ceil(Math.ceil(r / 2) / 64) };
}

/** [row][chunk] vec4s → [chunk][row]. */
function interleave(words: Uint32Array, rows: number, chunks: number): Uint32Array {
  const out = new Uint32Array(words.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < chunks; c++) {
      for (let k = 0; k < 4; k++) out[(c * rows + r) * 4 + k] = words[(r * chunks + c) * 4 + k];
    }
  }
  return out;
}

/**
 * The engine kernel's arithmetic (vec4 codes × vec4 x) with `rows` rows per invocation and the loops fully unrolled
 * (every shift and x index a constant): separates the unrolling from the pair trick.
 */
function unrolledKernel(rows: number, wg: number): Candidate {
  const shader = () => {
    const lines: string[] = [HEAD(wg)];
    lines.push(`override INVOCATIONS: u32 = (OUT + ${rows - 1}u) / ${rows}u;`);
    lines.push('@compute @workgroup_size(WG)');
    lines.push('fn main(@builtin(global_invocation_id) gid: vec3<u32>) {');
    lines.push('  if (gid.x >= INVOCATIONS) { return; }');
    for (let q = 0; q < rows; q++) {
      lines.push(`  let row${q} = min(gid.x * ${rows}u + ${q}u, OUT - 1u);`);
      lines.push(`  var acc${q} = vec4<i32>(0);`);
    }
    lines.push('  for (var c = 0u; c < CHUNKS; c++) {');
    for (let i = 0; i < 16; i++) lines.push(`    let x${i} = xq[16u * c + ${i}u];`);
    for (let q = 0; q < rows; q++) {
      lines.push(`    let w${q} = w[row${q} * CHUNKS + c];`);
      ['x', 'y', 'z', 'w'].forEach((k, ki) => {
        for (let j = 0; j < 4; j++) {
          lines.push(`    acc${q} += (vec4<i32>((vec4<u32>(w${q}.${k}) >> vec4<u32>(${2 * j}u, ${2 * j + 8}u, ${2 * j + 16}u, ${2 * j + 24}u)) & vec4<u32>(3u)) - vec4<i32>(1)) * x${4 * ki + j};`);
        }
      });
    }
    lines.push('  }');
    for (let q = 0; q < rows; q++) {
      lines.push(`  if (gid.x * ${rows}u + ${q}u < OUT) { store_row(row${q}, acc${q}.x + acc${q}.y + acc${q}.z + acc${q}.w); }`);
    }
    lines.push('}');
    return lines.join('\n');
  };
  return { name: `unrolled r${rows} wg${wg}`, shader, workgroups: (r) => Math.ceil(Math.ceil(r / rows) / wg) };
}

export const CANDIDATES: Record<string, Candidate> = Object.fromEntries(
  [
    formerRow(),
    unrolledKernel(2, 64),
    unrolledKernel(4, 16),
    pairKernel(2, 64, 'row'),
    pairKernel(4, 16, 'row'),
    pairKernel(8, 16, 'row'),
    pairKernel(4, 16, 'inter'),
    pairKernel(8, 8, 'row'),
    pairKernel(4, 64, 'row'),
    pairKernel(8, 4, 'row'),
    pairKernel(16, 4, 'row'),
    pairKernel(16, 8, 'row'),
    pairKernel(8, 8, 'inter'),
    pairKernel(32, 8, 'row'),
    pairKernel(16, 16, 'row'),
    loopedPair(16, 8),
    loopedPair(8, 8),
    loopedPair(32, 4),
    loopedPair(16, 4),
    loopedPair(32, 8),
    loopedPair(8, 4),
    lutKernel(8, 4),
    lutKernel(32, 4),
    lookupsOnly(lutKernel(8, 4)),
  ].map((c) => [c.name, c]),
);


/**
 * For each shape: the engine's bitlinear_row and the named candidates, `trials` interleaved trials of about
 * `targetMs` each; y compared bit for bit with the engine's on `checks` random inputs (the first with extreme x).
 */
export async function runLab(shapes: [number, number][], names: string[], trials = 5, targetMs = 60, checks = 3): Promise<{ adapter: string; rows: LabRow[] }> {
  const ctx = await GpuContext.create({ timestamps: true });
  if (!ctx.features.has('timestamp-query')) throw new Error('no timestamp queries');
  const rng = new Rng(11);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const out: LabRow[] = [];
  try {
    for (const [rows, cols] of shapes) {
      const shape = `${rows}×${cols}`;
      const buffers: GPUBuffer[] = [];
      const buf = (data: ArrayBufferView) => {
        const b = ctx.createBufferWithData('scratch', 'lab', data, usage);
        buffers.push(b);
        return b;
      };
      const tensor: TernaryTensor = { kind: 'ternary', shape: [rows, cols], scale: 0.02, values: Int8Array.from({ length: rows * cols }, () => rng.int(3) - 1) };
      const m = packTernaryMatvec([tensor]);
      const scales = buf(Float32Array.from({ length: rows }, () => 0.01 + rng.int(1000) / 1000));
      const xq = buf(new Int32Array(matvecInputWords(cols)));
      const xscale = buf(new Float32Array([2.5, 0, 0, 0]));
      const plan = matvecPlan(rows, cols, false, { subgroups: false, dot4: false, rowPerThread: true }, ctx.maxWorkgroupBytes);
      const runs: { name: string; pipeline: GPUComputePipeline; workgroups: number; bind: GPUBindGroup; y: GPUBuffer; prep?: Prep; untimedPrep?: boolean }[] = [];
      const add = (name: string, pipeline: GPUComputePipeline, workgroups: number, words: Uint32Array, c?: Candidate) => {
        const y = buf(new Float32Array(rows));
        const entries = [buf(words), scales, xq, xscale, y].map((buffer, binding) => ({ binding, resource: { buffer } }));
        let prep: Prep | undefined;
        if (c?.prep) {
          const table = buf(new Int32Array(c.prep.tableWords(cols)));
          entries.push({ binding: 5, resource: { buffer: table } });
          const prepPipeline = ctx.pipeline(c.prep.shader, 'main', { IN: cols });
          prep = {
            pipeline: prepPipeline,
            workgroups: c.prep.workgroups(cols),
            bind: ctx.device.createBindGroup({ layout: prepPipeline.getBindGroupLayout(0), entries: [entries[2], { binding: 5, resource: { buffer: table } }] }),
          };
        }
        const bind = ctx.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
        runs.push({ name, pipeline, workgroups, bind, y, prep, untimedPrep: c?.prep?.untimed });
      };
      add('engine bitlinear_row', ctx.pipeline(plan.shader, plan.entryPoint, plan.constants), plan.workgroups, m.words);
      for (const n of names) {
        const c = CANDIDATES[n];
        if (!c) throw new Error(`no candidate ${n}`);
        add(n, ctx.pipeline(c.shader(rows, cols), 'main', { IN: cols, OUT: rows, ACCUMULATE: 0 }), c.workgroups(rows), c.weights ? c.weights(m.words, rows, m.chunks) : m.words, c);
      }
      // Bit-exactness.
      const exact = runs.map(() => true);
      for (let check = 0; check < checks; check++) {
        const x = Int32Array.from({ length: matvecInputWords(cols) }, (_, i) => (i >= cols ? rng.int(256) - 128 : check === 0 ? (i % 3 === 0 ? 127 : -128) : rng.int(256) - 128));
        ctx.device.queue.writeBuffer(xq, 0, x);
        const encoder = ctx.device.createCommandEncoder();
        for (const r of runs) {
          const pass = encoder.beginComputePass();
          if (r.prep) {
            pass.setPipeline(r.prep.pipeline);
            pass.setBindGroup(0, r.prep.bind);
            pass.dispatchWorkgroups(r.prep.workgroups);
          }
          pass.setPipeline(r.pipeline);
          pass.setBindGroup(0, r.bind);
          pass.dispatchWorkgroups(r.workgroups);
          pass.end();
        }
        ctx.device.queue.submit([encoder.finish()]);
        const ys = await Promise.all(runs.map(async (r) => new Uint32Array(await ctx.readBuffer(r.y))));
        runs.forEach((_, i) => {
          if (!ys[i].every((v, k) => v === ys[0][k])) exact[i] = false;
        });
      }
      // Timing: calibrate, then interleaved trials.
      const reps = await Promise.all(
        runs.map(async (r) => {
          await timeDispatches(ctx, r.pipeline, r.bind, r.workgroups, 2, r.untimedPrep ? undefined : r.prep);
          const probe = await timeDispatches(ctx, r.pipeline, r.bind, r.workgroups, 4, r.untimedPrep ? undefined : r.prep);
          return Math.max(4, Math.min(2000, Math.round((targetMs * 1000) / Math.max(probe, 0.01))));
        }),
      );
      const us = runs.map(() => [] as number[]);
      for (let t = 0; t < trials; t++) {
        for (let i = 0; i < runs.length; i++) us[i].push(await timeDispatches(ctx, runs[i].pipeline, runs[i].bind, runs[i].workgroups, reps[i], runs[i].untimedPrep ? undefined : runs[i].prep));
      }
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
