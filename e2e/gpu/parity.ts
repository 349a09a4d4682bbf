// In-page checks of the GPU engine against the CPU reference, loaded by the specs with a dynamic import.
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { parseBttt } from '../../src/engine/format/reader';
import { ReferenceModel } from '../../src/engine/reference/model';
import type { LayerMemory, ModelConfig, ModelFile } from '../../src/engine/types';
import { randomModel } from '../../src/engine/model/random';
import { TINY_MODELS, TINY_TOKENIZER } from '../../src/engine/format/tiny';
import { compareLogits } from '../../src/engine/reference/compare';

export async function loadTiny(name: string): Promise<ModelFile> {
  const response = await fetch(`/models/${name}.bttt`);
  if (!response.ok) throw new Error(`fetch /models/${name}.bttt: ${response.status}`);
  return parseBttt(new Uint8Array(await response.arrayBuffer()));
}

/** A fixed token sequence that visits the whole tiny vocabulary. */
export function tokenSequence(n: number, vocab: number, stride = 37): number[] {
  return Array.from({ length: n }, (_, i) => (i * stride + 5) % vocab);
}

export interface TokenDiff {
  maxAbs: number;
  range: number;
  argmaxEqual: boolean;
  /** The reference's nearest int8 rounding tie at this token (ReferenceModel.nearestTies). */
  tieDistance: number;
}

export interface ParityResult {
  adapter: string;
  perToken: TokenDiff[];
  drift: { maxAbs: number; maxRel: number };
  gpuMs: number;
}

export async function logitParity(name: string, tokens: number, stride = 37, kvInitialTokens = 8): Promise<ParityResult> {
  return modelParity(await loadTiny(name), tokens, stride, kvInitialTokens);
}

/** Parity on a random model: the tiny config with `overrides` (code paths the tiny files do not take). */
export async function variantParity(overrides: Partial<ModelConfig>, tokens: number, stride: number): Promise<ParityResult> {
  const config: ModelConfig = { ...TINY_MODELS[0].config, ...overrides };
  return modelParity(randomModel(config, TINY_TOKENIZER, 77), tokens, stride, 8);
}

async function modelParity(file: ModelFile, tokens: number, stride: number, kvInitialTokens: number): Promise<ParityResult> {
  const ctx = await GpuContext.create();
  const gpu = await GpuModel.create(ctx, file, { kvInitialTokens });
  const ref = new ReferenceModel(file, { recordNearTies: true });
  const perToken: TokenDiff[] = [];
  const drift = { maxAbs: 0, maxRel: 0 };
  let gpuMs = 0;
  for (const token of tokenSequence(tokens, file.config.vocabSize, stride)) {
    const t0 = performance.now();
    const g = await gpu.step(token, { drift: true });
    gpuMs += performance.now() - t0;
    const c = ref.step(token);
    const { maxAbs, range, argmaxEqual } = compareLogits(g, c);
    perToken.push({ maxAbs, range, argmaxEqual, tieDistance: ref.nearestTies[ref.nearestTies.length - 1] });
    const gd = await gpu.readDrift();
    const rd = ref.drift();
    gd.forEach((layer, l) =>
      layer.heads.forEach((h, i) => {
        const r = rd[l].heads[i];
        for (const key of ['norm', 'cos', 'lossBefore', 'lossAfter', 'w0Norm'] as const) {
          const diff = Math.abs(h[key] - r[key]);
          drift.maxAbs = Math.max(drift.maxAbs, diff);
          drift.maxRel = Math.max(drift.maxRel, diff / Math.max(Math.abs(r[key]), 1e-3));
        }
      }),
    );
  }
  gpu.destroy();
  ctx.destroy();
  return { adapter: ctx.adapterInfo, perToken, drift, gpuMs };
}

export interface MemoryCheck {
  tttStateAt8: number;
  tttStateAt64: number;
  kvAt8: number;
  kvAt64: number;
  attnLayers: number;
  dModel: number;
  /** memoryReport().total vs the sum of GPUBuffer.size over the model's live buffers. */
  reportedTotal: number;
  liveTotal: number;
  tokensPerSecond: number;
  overflowMessage: string;
  /** memoryReport().kvCache after each of the 64 tokens (index i: after i + 1 tokens). */
  kvAllocated: number[];
  kvInUse: number[];
  maxContext: number;
  /** memoryReport().layers after the 64 tokens, and the weights per block counted from the live buffers' labels. */
  layersAt64: LayerMemory[];
  weightsByLabel: number[];
  kvInUseAt64: number;
  /** Live buffers holding the embedding / LM head tables (label and bytes). */
  tables: { label: string; size: number }[];
  vocabSize: number;
}

export async function memoryGrowth(name: string): Promise<MemoryCheck> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  const gpu = await GpuModel.create(ctx, file, { kvInitialTokens: 8 });
  const tokens = tokenSequence(64, file.config.vocabSize);
  let at8 = gpu.memoryReport();
  const kvAllocated: number[] = [];
  const kvInUse: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < tokens.length; i++) {
    await gpu.step(tokens[i]);
    const report = gpu.memoryReport();
    if (i === 7) at8 = report;
    if (report.kvCache.allocated !== report.bytes['kv-cache']) throw new Error(`kvCache.allocated ${report.kvCache.allocated} ≠ bytes['kv-cache'] ${report.bytes['kv-cache']}`);
    kvAllocated.push(report.kvCache.allocated);
    kvInUse.push(report.kvCache.inUse);
  }
  const tokensPerSecond = (tokens.length / (performance.now() - t0)) * 1000;
  const at64 = gpu.memoryReport();
  let overflowMessage = '';
  try {
    gpu.prepare(file.config.maxContext);
  } catch (e) {
    overflowMessage = `${(e as Error).name}: ${(e as Error).message}`;
  }
  const liveTotal = ctx.liveBuffers().reduce((n, b) => n + b.size, 0);
  // Independent of the layers' own bookkeeping: a block's weights are the live buffers labelled l{i}. (plus the
  // RoPE steps, made once by the first attention layer).
  const firstAttn = file.config.mixers.findIndex((m) => m !== 'ttt');
  const weightsByLabel = file.config.mixers.map((_, i) => ctx.liveBuffers()
    .filter((b) => b.tag === 'weights' && (b.label.startsWith(`weights:l${i}.`) || (i === firstAttn && b.label === 'weights:rope_phase_steps')))
    .reduce((n, b) => n + b.size, 0));
  const tables = ctx.liveBuffers().filter((b) => /^weights:(tok_embed|lm_head)/.test(b.label)).map(({ label, size }) => ({ label, size }));
  gpu.destroy();
  const afterDestroy = ctx.memoryReport();
  ctx.destroy();
  if (afterDestroy.buffers !== 0) throw new Error(`${afterDestroy.buffers} buffers alive after destroy()`);
  return {
    tttStateAt8: at8.bytes['ttt-state'],
    tttStateAt64: at64.bytes['ttt-state'],
    kvAt8: at8.bytes['kv-cache'],
    kvAt64: at64.bytes['kv-cache'],
    attnLayers: file.config.mixers.filter((m) => m === 'attn').length,
    dModel: file.config.dModel,
    reportedTotal: at64.total,
    liveTotal,
    tokensPerSecond,
    overflowMessage,
    kvAllocated,
    kvInUse,
    maxContext: file.config.maxContext,
    tables,
    vocabSize: file.config.vocabSize,
    layersAt64: at64.layers ?? [],
    weightsByLabel,
    kvInUseAt64: at64.kvCache.inUse,
  };
}

export interface DriftOnDemandCheck {
  /** Tokens at which the logits of the step without drift differed (bitwise) from the step with drift. */
  logitMismatches: number[];
  /** Same for tttMatrixDelta of every TTT head at the end (the state). */
  stateMismatches: number;
  /** The drift buffer of the model stepped without drift, raw, after every step: unchanged from its reset value. */
  untouched: boolean;
  /** readDrift() after steps without drift. */
  staleMessage: string;
  /** After one more step with { drift: true } on both: the stats agree bitwise. */
  driftEqualAfterAsking: boolean;
  driftNormAfterAsking: number;
}

/** Two copies of a model read the same tokens, one computing drift stats at every step and one never. */
export async function driftOnDemand(name: string, tokens: number): Promise<DriftOnDemandCheck> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  const withDrift = await GpuModel.create(ctx, file);
  const without = await GpuModel.create(ctx, file);
  try {
    const initial = new Uint8Array(await ctx.readBuffer(without.driftStats!));
    const sequence = tokenSequence(tokens + 1, file.config.vocabSize);
    const logitMismatches: number[] = [];
    let untouched = true;
    for (let i = 0; i < tokens; i++) {
      const a = await withDrift.step(sequence[i], { drift: true });
      const b = await without.step(sequence[i]);
      if (a.some((v, k) => !Object.is(v, b[k]))) logitMismatches.push(i);
      const raw = new Uint8Array(await ctx.readBuffer(without.driftStats!));
      if (raw.some((v, k) => v !== initial[k])) untouched = false;
    }
    let stateMismatches = 0;
    for (const layer of withDrift.tttLayers) {
      for (let h = 0; h < file.config.nHeads; h++) {
        const a = await withDrift.tttMatrixDelta(layer, h);
        const b = await without.tttMatrixDelta(layer, h);
        stateMismatches += a.filter((v, k) => !Object.is(v, b[k])).length;
      }
    }
    let staleMessage = '';
    try {
      await without.readDrift();
    } catch (e) {
      staleMessage = `${(e as Error).name}: ${(e as Error).message}`;
    }
    await withDrift.step(sequence[tokens], { drift: true });
    await without.step(sequence[tokens], { drift: true });
    const a = await withDrift.readDrift();
    const b = await without.readDrift();
    return {
      logitMismatches,
      stateMismatches,
      untouched,
      staleMessage,
      driftEqualAfterAsking: JSON.stringify(a) === JSON.stringify(b),
      driftNormAfterAsking: b[0].heads[0].norm,
    };
  } finally {
    withDrift.destroy();
    without.destroy();
    ctx.destroy();
  }
}
