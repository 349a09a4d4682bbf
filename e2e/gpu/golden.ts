// In-page check of the WebGPU engine against the trainer's golden vectors (train/golden/<name>.json, written by
// train/export.py from the shipped .bttt in f32), loaded by golden.spec.ts with a dynamic import.
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { parseBttt } from '../../src/engine/format/reader';
import { ReferenceModel } from '../../src/engine/reference/model';
import { compareLogits } from '../../src/engine/reference/compare';

interface GoldenCase {
  tokens: number[];
  /** base64 of little-endian f32 [tokens.length × vocabSize]. */
  logits: string;
}

export interface GoldenPosition {
  maxAbs: number;
  /** max − min of the golden logits at this position. */
  range: number;
  argmaxEqual: boolean;
  /** max |Δlogit| between the GPU and the CPU reference fed the same tokens, over the same range. */
  maxAbsVsReference: number;
  /** The reference's nearest int8 rounding tie at this position (ReferenceModel.nearestTies). */
  tieDistance: number;
}

export interface GoldenResult {
  adapter: string;
  /** Per case, per position. */
  cases: GoldenPosition[][];
  tokensPerSecond: number;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetch ${url}: ${response.status}`);
  return response;
}

function decodeLogits(base64: string): Float32Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** Runs every golden case through a GpuModel (reset between cases), comparing `positions` positions per case. */
export async function goldenParity(name: string, positions: number): Promise<GoldenResult> {
  const golden = (await (await fetchOk(`/train/golden/${name}.json`)).json()) as { model: string; cases: GoldenCase[] };
  const file = parseBttt(new Uint8Array(await (await fetchOk(`/models/${name}.bttt`)).arrayBuffer()));
  const vocab = file.config.vocabSize;
  const ctx = await GpuContext.create();
  const gpu = await GpuModel.create(ctx, file);
  const reference = new ReferenceModel(file, { recordNearTies: true });
  const cases: GoldenPosition[][] = [];
  let gpuMs = 0;
  let stepped = 0;
  try {
    for (const c of golden.cases) {
      const expected = decodeLogits(c.logits);
      gpu.reset();
      reference.reset();
      const perPosition: GoldenPosition[] = [];
      for (const [t, token] of c.tokens.slice(0, positions).entries()) {
        const started = performance.now();
        const actual = await gpu.step(token);
        gpuMs += performance.now() - started;
        stepped++;
        const cpu = reference.step(token);
        const row = expected.subarray(t * vocab, (t + 1) * vocab);
        const { maxAbs, range, argmaxEqual } = compareLogits(actual, row);
        perPosition.push({ maxAbs, range, argmaxEqual, maxAbsVsReference: compareLogits(actual, cpu).maxAbs, tieDistance: reference.nearestTies[t] });
      }
      cases.push(perPosition);
    }
  } finally {
    gpu.destroy();
    ctx.destroy();
  }
  return { adapter: ctx.adapterInfo, cases, tokensPerSecond: (stepped * 1000) / gpuMs };
}
