// A lab for the prefill chunk's LM head on CPU adapters: lm_head_rows (logits of every token of a chunk, for reading
// with the loss) against candidate tilings, interleaved (engine, A, B, … per trial), each checked bit for bit against
// the engine's logits. A measurement, not a test: run by head-lab.spec.ts (HEAD_LAB=1). Sibling of rows-lab.ts.
import { GpuContext } from '../../src/engine/gpu/context';
import { KERNEL_CONSTANTS, SHADERS } from '../../src/engine/gpu/shaders';
import { packFloatTable } from '../../src/engine/gpu/float-table';
import { f16BitsToF32 } from '../../src/engine/format/f16';
import { Rng } from '../../src/engine/util/rng';
import { dispatchOnce, timeInterleaved } from './lab-timing';
import type { LabRow } from './matvec-lab';

/** lm_head_rows' bindings and overrides, as every candidate declares them. */
const BINDINGS = `
override D: u32;
override V: u32;
override ROW_WORDS: u32;
override XN_ROWS: u32 = 16u;
@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> xn: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;
@group(0) @binding(3) var<uniform> chunk: vec4<u32>;
`;

interface Candidate {
  name: string;
  /** WGSL with lm_head_rows' bindings (table words, column-major xn, logits, chunk), entry point `main`. */
  shader: string;
  /** Workgroups (x, y) for vocabulary `v` and `tokens` tokens. */
  workgroups: (v: number, tokens: number) => [number, number];
}

/**
 * `rows` vocabulary rows × 4·`groups` tokens per invocation, workgroups of `wg`: for each f16 word (columns 2w, 2w+1)
 * the invocation loads its token groups' xn once and each row's word once; every (row, token) sum runs column by
 * column from 0 as lm_head_rows' does, so the logits are the same bits.
 */
function tiled(rows: number, groups: number, wg: number): Candidate {
  const G = Array.from({ length: groups }, (_, i) => i);
  const shader = `${BINDINGS}const R: u32 = ${rows}u;
override INVOCATIONS: u32 = (V + R - 1u) / R;
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= INVOCATIONS) { return; }
  let v0 = gid.x * R;
  let stride = XN_ROWS / 4u;
  let g0 = gid.y * ${groups}u;
${G.map((g) => `  var acc${g} = array<vec4<f32>, R>();`).join('\n')}
  for (var w = 0u; w < D / 2u; w++) {
    let at = 2u * w * stride + g0;
${G.map((g) => `    let x${g} = xn[at + ${g}u]; let y${g} = xn[at + stride + ${g}u];`).join('\n')}
    for (var r = 0u; r < R; r++) {
      let p = unpack2x16float(table[min(v0 + r, V - 1u) * ROW_WORDS + w]);
${G.map((g) => `      acc${g}[r] += x${g} * p.x;\n      acc${g}[r] += y${g} * p.y;`).join('\n')}
    }
  }
  for (var r = 0u; r < R; r++) {
    if (v0 + r >= V) { break; }
${G.map((g) => `    for (var k = 0u; k < 4u; k++) { let t = 4u * (g0 + ${g}u) + k; if (t < chunk.x) { logits[t * V + v0 + r] = acc${g}[r][k]; } }`).join('\n')}
  }
}
`;
  return { name: `r${rows} t${4 * groups} wg${wg}`, shader, workgroups: (v, t) => [Math.ceil(Math.ceil(v / rows) / wg), Math.ceil(t / (4 * groups))] };
}

/** The same tiling fully unrolled (every row and token group its own vec4 of sums, as lm_head_rows' mat4x4s). */
function unrolled(rows: number, groups: number, wg: number): Candidate {
  const R = Array.from({ length: rows }, (_, i) => i);
  const G = Array.from({ length: groups }, (_, i) => i);
  const shader = `${BINDINGS}override INVOCATIONS: u32 = (V + ${rows - 1}u) / ${rows}u;
fn store(v: u32, g: u32, sums: vec4<f32>) {
  if (v >= V) { return; }
  for (var k = 0u; k < 4u; k++) { let t = 4u * g + k; if (t < chunk.x) { logits[t * V + v] = sums[k]; } }
}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= INVOCATIONS) { return; }
  let v0 = gid.x * ${rows}u;
  let stride = XN_ROWS / 4u;
  let g0 = gid.y * ${groups}u;
${R.map((r) => `  let row${r} = min(v0 + ${r}u, V - 1u) * ROW_WORDS;`).join('\n')}
${R.map((r) => G.map((g) => `  var a${r}_${g} = vec4<f32>();`).join(' ')).join('\n')}
  for (var w = 0u; w < D / 2u; w++) {
    let at = 2u * w * stride + g0;
${G.map((g) => `    let x${g} = xn[at + ${g}u]; let y${g} = xn[at + stride + ${g}u];`).join('\n')}
${R.map((r) => `    { let p = unpack2x16float(table[row${r} + w]);\n${G.map((g) => `      a${r}_${g} += x${g} * p.x;`).join('\n')}\n${G.map((g) => `      a${r}_${g} += y${g} * p.y;`).join('\n')} }`).join('\n')}
  }
${R.map((r) => G.map((g) => `  store(v0 + ${r}u, g0 + ${g}u, a${r}_${g});`).join(' ')).join('\n')}
}
`;
  return { name: `unrolled r${rows} t${4 * groups} wg${wg}`, shader, workgroups: (v, t) => [Math.ceil(Math.ceil(v / rows) / wg), Math.ceil(t / (4 * groups))] };
}

// Measured at 4096 × 256, 64 tokens (SwiftShader, 2 shared cores, 7 interleaved trials), against the former engine
// kernel (4 rows × 16 tokens, = "unrolled r4 t16 wg64"): the array form 4-6x slower whatever the tile; unrolled
// 16 × 16 1.5-1.65x (the engine's since), 32 × 16 1.7-1.8x, 16 × 32 1.7-2.1x, 8 × 16 and 16 × 8 ~1x.
export const CANDIDATES: Record<string, Candidate> = Object.fromEntries(
  [
    tiled(16, 4, 4),
    unrolled(4, 4, 64),
    unrolled(8, 4, 64),
    unrolled(16, 2, 64),
    unrolled(16, 4, 64),
    unrolled(32, 4, 16),
    unrolled(16, 8, 64),
    unrolled(8, 8, 64),
  ].map((c) => [c.name, c]),
);

/**
 * The engine's lm_head_rows (as the LM head layer dispatches it) and the named candidates over `tokens` tokens of a
 * [V, D] f16 table; `trials` interleaved trials of about `targetMs` each; logits compared bit for bit with the
 * engine's on `checks` random inputs.
 */
export async function runLab(shapes: [number, number][], names: string[], tokens = 64, trials = 5, targetMs = 60, checks = 2): Promise<{ adapter: string; rows: LabRow[] }> {
  const ctx = await GpuContext.create({ timestamps: true });
  if (!ctx.features.has('timestamp-query')) throw new Error('no timestamp queries');
  const rng = new Rng(17);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const xnRows = Math.ceil(tokens / KERNEL_CONSTANTS.HEAD_TOKENS_PER_THREAD) * KERNEL_CONSTANTS.HEAD_TOKENS_PER_THREAD;
  const out: LabRow[] = [];
  try {
    for (const [V, D] of shapes) {
      const shape = `${V}×${D}`;
      const buffers: GPUBuffer[] = [];
      const buf = (data: ArrayBufferView, u = usage) => {
        const b = ctx.createBufferWithData('scratch', 'lab', data, u);
        buffers.push(b);
        return b;
      };
      // Values an f16 holds exactly, so the table packs as f16 (as a .bttt file's does).
      const values = Float32Array.from({ length: V * D }, () => f16BitsToF32(0x2000 + rng.int(0x2000)) * (rng.int(2) ? 1 : -1));
      const packed = packFloatTable(values, V, D);
      if (!packed.f16) throw new Error('the lab table did not pack as f16');
      const table = buf(packed.words);
      const xn = buf(new Float32Array(D * xnRows));
      const info = buf(new Uint32Array([tokens, 0, 0, 0]), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      const constants = { D, V, ROW_WORDS: packed.rowWords, XN_ROWS: xnRows };
      const runs: { name: string; pipeline: GPUComputePipeline; workgroups: [number, number]; bind: GPUBindGroup; logits: GPUBuffer }[] = [];
      const add = (name: string, pipeline: GPUComputePipeline, workgroups: [number, number]) => {
        const logits = buf(new Float32Array(tokens * V));
        const entries = [table, xn, logits, info].map((buffer, binding) => ({ binding, resource: { buffer } }));
        runs.push({ name, pipeline, workgroups, logits, bind: ctx.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }) });
      };
      const { HEAD_CHUNK_ROWS_PER_THREAD, HEAD_TOKENS_PER_THREAD, WORKGROUP_SIZE } = KERNEL_CONSTANTS;
      add('engine lm_head_rows', ctx.pipeline(SHADERS.head, 'lm_head_rows', { ...constants, F16: 1 }), [Math.ceil(Math.ceil(V / HEAD_CHUNK_ROWS_PER_THREAD) / WORKGROUP_SIZE), Math.ceil(tokens / HEAD_TOKENS_PER_THREAD)]);
      for (const n of names) {
        const c = CANDIDATES[n];
        if (!c) throw new Error(`no candidate ${n}`);
        add(n, ctx.pipeline(c.shader, 'main', constants), c.workgroups(V, tokens));
      }
      const exact = runs.map(() => true);
      for (let check = 0; check < checks; check++) {
        ctx.device.queue.writeBuffer(xn, 0, Float32Array.from({ length: D * xnRows }, () => (rng.int(2001) - 1000) / 317));
        await dispatchOnce(ctx, runs);
        const ls = await Promise.all(runs.map(async (r) => new Uint32Array(await ctx.readBuffer(r.logits))));
        runs.forEach((_, i) => {
          if (!ls[i].every((v, k) => v === ls[0][k])) exact[i] = false;
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
