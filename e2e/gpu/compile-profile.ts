// In-page measurement of what a model's first load compiles: every pipeline GpuModel.create and a warm-up (decode
// step in both drift variants, a chunk without drift in both forms) ask for, and the drift chunk the worker compiles
// after the load, then each compiled again on a fresh device with
// createComputePipelineAsync, one at a time (its own cost) and all at once (what parallel compiling would give).
// Shader sources get a nonce comment so that no cache of compiled pipelines answers. Not a test: compile.spec.ts.
import { GpuContext, pipelineKey } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { SHADERS } from '../../src/engine/gpu/shaders';
import { loadTiny } from './parity';

interface Request {
  shader: string;
  entryPoint: string;
  constants?: Record<string, number>;
}

export interface CompileRow {
  name: string;
  ms: number;
}

export interface CompileProfile {
  adapter: string;
  /** GpuModel.create + warm-up, as a load does it (sync pipelines), ms. */
  loadMs: number;
  /** The drift chunk compiled after the load (GpuModel.precompileDriftChunk), ms. */
  backgroundMs: number;
  pipelines: number;
  modules: number;
  /** Each pipeline alone, slowest first. */
  sequential: CompileRow[];
  sequentialMs: number;
  /** All pipelines requested at once. */
  parallelMs: number;
}

function shaderName(code: string): string {
  for (const [name, src] of Object.entries(SHADERS)) if (src === code) return name;
  return /subgroups/.test(code) ? 'bitlinear(subgroups)' : code.includes('//#') ? '?' : 'bitlinear(variant)';
}

export async function compileProfile(modelName: string, loadOnly = false): Promise<CompileProfile> {
  const file = await loadTiny(modelName);
  const requests: Request[] = [];
  const t0 = performance.now();
  const ctx = await GpuContext.create();
  const original = ctx.pipeline.bind(ctx);
  const seen = new Set<string>();
  const originalAsync = ctx.pipelineAsync.bind(ctx);
  const note = (shader: string, entryPoint: string, constants?: Record<string, number>) => {
    const key = pipelineKey(shader, entryPoint, constants); // as the cache dedups
    if (!seen.has(key)) {
      seen.add(key);
      requests.push({ shader, entryPoint, constants });
    }
  };
  ctx.pipeline = (shader, entryPoint, constants) => {
    note(shader, entryPoint, constants);
    return original(shader, entryPoint, constants);
  };
  ctx.pipelineAsync = (shader, entryPoint, constants) => {
    note(shader, entryPoint, constants);
    return originalAsync(shader, entryPoint, constants);
  };
  const model = await GpuModel.create(ctx, file);
  const token = ctx.createBuffer('scratch', 'token', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  ctx.device.queue.writeBuffer(token, 0, new Uint32Array([1]));
  await model.warmUp(token, 1); // what Session.warmUp runs of the model
  const loadMs = performance.now() - t0;
  const b0 = performance.now();
  await model.precompileDriftChunk(); // what the worker compiles after the load, in the background
  const backgroundMs = performance.now() - b0;
  const adapter = ctx.adapterInfo;
  model.destroy();
  ctx.destroyBuffer(token);
  ctx.destroy();
  if (loadOnly) return { adapter, loadMs, backgroundMs, pipelines: requests.length, modules: new Set(requests.map((r) => r.shader)).size, sequential: [], sequentialMs: 0, parallelMs: 0 };

  const nonce = () => `// compile-profile ${Math.random()}\n`;
  const compile = (device: GPUDevice, r: Request, modules: Map<string, GPUShaderModule>) => {
    let module = modules.get(r.shader);
    if (!module) {
      module = device.createShaderModule({ code: nonce() + r.shader });
      modules.set(r.shader, module);
    }
    return device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: r.entryPoint, constants: r.constants } });
  };
  const name = (r: Request) => `${shaderName(r.shader)}.${r.entryPoint} ${JSON.stringify(r.constants ?? {})}`;

  const seqCtx = await GpuContext.create();
  const sequential: CompileRow[] = [];
  const seqModules = new Map<string, GPUShaderModule>();
  const s0 = performance.now();
  for (const r of requests) {
    const t = performance.now();
    await compile(seqCtx.device, r, seqModules);
    sequential.push({ name: name(r), ms: performance.now() - t });
  }
  const sequentialMs = performance.now() - s0;
  seqCtx.destroy();

  const parCtx = await GpuContext.create();
  const parModules = new Map<string, GPUShaderModule>();
  const p0 = performance.now();
  await Promise.all(requests.map((r) => compile(parCtx.device, r, parModules)));
  const parallelMs = performance.now() - p0;
  parCtx.destroy();

  sequential.sort((a, b) => b.ms - a.ms);
  return { adapter, loadMs, backgroundMs, pipelines: requests.length, modules: new Set(requests.map((r) => r.shader)).size, sequential, sequentialMs, parallelMs };
}

/**
 * A/B of one kernel's compile time: `entry` as the model requests it, compiled from the current shaders/ttt.wgsl
 * (A) and from `baseUrl` (B, a copy of another version, served by the dev server), alternated `rounds` times on
 * one device, nonce'd. For trying what makes a kernel slow to compile.
 */
export async function compileAB(modelName: string, entry: string, baseUrl: string, rounds = 3): Promise<{ a: number[]; b: number[] }> {
  const file = await loadTiny(modelName);
  const current = (await import('../../shaders/ttt.wgsl?raw')).default as string;
  const base = await (await fetch(baseUrl)).text();
  const ctx = await GpuContext.create();
  let request: Request | null = null;
  const original = ctx.pipeline.bind(ctx);
  ctx.pipeline = (shader, entryPoint, constants) => {
    if (entryPoint === entry && !request) request = { shader, entryPoint, constants };
    return original(shader, entryPoint, constants);
  };
  const model = await GpuModel.create(ctx, file);
  const encoder = ctx.device.createCommandEncoder();
  model.encodeChunk(encoder, [1], { logits: 'all', drift: entry.endsWith('drift') });
  model.destroy();
  if (!request) throw new Error(`${entry} was not requested`);
  const r = request as Request;
  if (!r.shader.includes(current)) throw new Error('the kernel is not from shaders/ttt.wgsl');
  const sources = { a: r.shader, b: r.shader.replace(current, base) };
  const times: { a: number[]; b: number[] } = { a: [], b: [] };
  for (let i = 0; i < rounds; i++) {
    for (const k of ['a', 'b'] as const) {
      const t = performance.now();
      const module = ctx.device.createShaderModule({ code: `// ab ${Math.random()}\n${sources[k]}` });
      await ctx.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: entry, constants: r.constants } });
      times[k].push(performance.now() - t);
    }
  }
  ctx.destroy();
  return times;
}
