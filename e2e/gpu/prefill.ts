// In-page checks of the chunked prefill (GpuModel.encodeChunk) against the token-by-token path (encodeStep), which
// model.spec.ts holds to the CPU reference. Loaded by prefill.spec.ts with a dynamic import.
import { GpuContext } from '../../src/engine/gpu/context';
import { DRIFT_STATS_PER_HEAD, GpuModel, type ChunkLogits } from '../../src/engine/gpu/model';
import { compareLogits } from '../../src/engine/reference/compare';
import { loadTiny, tokenSequence } from './parity';
import { randomModel } from '../../src/engine/model/random';
import { TINY_MODELS, TINY_TOKENIZER } from '../../src/engine/format/tiny';
import type { ModelConfig, ModelFile } from '../../src/engine/types';

export interface ChunkParity {
  chunkSize: number;
  /** Per token: max |Δlogit| / logit range of the chunk path against the token path. */
  relative: number[];
  /** Tokens whose greedy (argmax) id differs between the two paths. */
  argmaxDiffer: number;
  /** Logits bit-identical to the token path's at every token. */
  identical: boolean;
  /** Tokens from the first on whose logits are bit-identical to the token path's. */
  identicalPrefix: number;
  /** The same chunks read again from a reset, all without drift: every logit bit-identical to the first reading's
   * (whose chunks alternate drift on and off): the TTT chunk kernels' outputs do not depend on drift. */
  sameWithoutDrift: boolean;
  /** max |Δ| / max(|token path|, 1e-3) over every drift stat of every token. */
  driftMaxRel: number;
  /** With logits 'last': the logits buffer after the last chunk against the token path's last logits. */
  lastRelative: number;
  positionAfter: number;
  ms: number;
}

export interface PrefillParityResult {
  adapter: string;
  /** TTT layers of the model (their chunk kernel without drift, the dual form, sums in another order). */
  tttLayers: number;
  tokens: number;
  tokenPathMs: number;
  chunks: ChunkParity[];
}

/**
 * Reads `tokens` ids token by token (encodeStep, logits and drift after each), then for each chunk size reads them
 * again in chunks on a fresh model: once with logits 'all' (every token compared; drift on every other chunk), once
 * with 'last' and no drift (only the final logits, what the sampler reads).
 */
export async function prefillParity(name: string, tokens: number, chunkSizes: number[], stride = 37): Promise<PrefillParityResult> {
  return fileParity(await loadTiny(name), tokens, chunkSizes, stride);
}

/** The same on a random model: the tiny config with `overrides` (code paths the tiny files do not take). */
export async function variantPrefillParity(overrides: Partial<ModelConfig>, tokens: number, chunkSizes: number[]): Promise<PrefillParityResult> {
  return fileParity(randomModel({ ...TINY_MODELS[0].config, ...overrides }, TINY_TOKENIZER, 77), tokens, chunkSizes, 101);
}

async function fileParity(file: ModelFile, tokens: number, chunkSizes: number[], stride: number): Promise<PrefillParityResult> {
  const V = file.config.vocabSize;
  const ids = tokenSequence(tokens, V, stride);
  const ctx = await GpuContext.create();
  const reference = await GpuModel.create(ctx, file);
  const stepLogits: Float32Array[] = [];
  const stepDrift: Float32Array[] = [];
  const t0 = performance.now();
  for (const id of ids) {
    stepLogits.push(await reference.step(id, { drift: true }));
    if (reference.driftStats) stepDrift.push(new Float32Array(await ctx.readBuffer(reference.driftStats)));
  }
  const tokenPathMs = performance.now() - t0;
  const tttLayers = reference.tttLayers.length;
  reference.destroy();

  const chunks: ChunkParity[] = [];
  for (const chunkSize of chunkSizes) {
    const model = await GpuModel.create(ctx, file, { maxChunkTokens: chunkSize });
    const relative: number[] = [];
    let argmaxDiffer = 0;
    let identical = true;
    let identicalPrefix = 0;
    let driftMaxRel = 0;
    const rows: Float32Array[] = [];
    const started = performance.now();
    for (let at = 0, index = 0; at < ids.length; at += chunkSize, index++) {
      const chunk = ids.slice(at, at + chunkSize);
      // Every other chunk without drift: both TTT chunk kernels (ttt_batch_rows_drift with drift, ttt_batch_rows
      // without) compared at every token, handing the state (mid-batch too) to each other.
      const withDrift = index % 2 === 0;
      const encoder = ctx.device.createCommandEncoder();
      model.encodeChunk(encoder, chunk, { logits: 'all', drift: withDrift });
      ctx.device.queue.submit([encoder.finish()]);
      const logits = new Float32Array(await ctx.readBuffer(model.chunkLogits, chunk.length * V * 4));
      const drift = withDrift && model.chunkDriftStats ? new Float32Array(await ctx.readBuffer(model.chunkDriftStats, chunk.length * model.driftStats!.size)) : null;
      chunk.forEach((_, r) => {
        const row = logits.subarray(r * V, (r + 1) * V);
        rows.push(row);
        const expected = stepLogits[at + r];
        const c = compareLogits(row, expected);
        relative.push(c.relative);
        if (!c.argmaxEqual) argmaxDiffer++;
        if (row.some((v, j) => v !== expected[j])) identical = false;
        else if (identical) identicalPrefix++;
        if (drift) {
          const n = stepDrift[at + r].length;
          const got = drift.subarray(r * n, (r + 1) * n);
          stepDrift[at + r].forEach((e, k) => (driftMaxRel = Math.max(driftMaxRel, Math.abs(got[k] - e) / Math.max(Math.abs(e), 1e-3))));
        }
      });
    }
    const ms = performance.now() - started;
    const positionAfter = model.position;
    model.reset();
    let sameWithoutDrift = true;
    for (let at = 0; at < ids.length; at += chunkSize) {
      const chunk = ids.slice(at, at + chunkSize);
      const encoder = ctx.device.createCommandEncoder();
      model.encodeChunk(encoder, chunk, { logits: 'all', drift: false });
      ctx.device.queue.submit([encoder.finish()]);
      const logits = new Float32Array(await ctx.readBuffer(model.chunkLogits, chunk.length * V * 4));
      if (logits.some((v, j) => v !== rows[at + Math.floor(j / V)][j % V])) sameWithoutDrift = false;
    }
    model.reset();
    for (let at = 0; at < ids.length; at += chunkSize) {
      const encoder = ctx.device.createCommandEncoder();
      model.encodeChunk(encoder, ids.slice(at, at + chunkSize), { logits: 'last' satisfies ChunkLogits });
      ctx.device.queue.submit([encoder.finish()]);
    }
    const last = new Float32Array(await ctx.readBuffer(model.logits));
    const lastRelative = compareLogits(last, stepLogits[ids.length - 1]).relative;
    model.destroy();
    chunks.push({ chunkSize, relative, argmaxDiffer, identical, identicalPrefix, sameWithoutDrift, driftMaxRel, lastRelative, positionAfter, ms });
  }
  ctx.destroy();
  return { adapter: ctx.adapterInfo, tttLayers, tokens, tokenPathMs, chunks };
}

export { DRIFT_STATS_PER_HEAD };

export interface MixedDriftParity {
  adapter: string;
  tokens: number;
  /** Worst over every token: max |Δlogit| / logit range, and the drift stats' relative difference (as ChunkParity). */
  worstRelative: number;
  driftMaxRel: number;
  argmaxDiffer: number;
}

/**
 * Chunks and decode steps interleaved, all with drift, against the token path: `plan` entries > 0 read a chunk of
 * that many tokens, < 0 that many decode steps. Chunks that end mid-batch hand GW, Gb to ttt_step and back.
 */
export async function mixedDriftParity(name: string, plan: number[]): Promise<MixedDriftParity> {
  const file = await loadTiny(name);
  const V = file.config.vocabSize;
  const tokens = plan.reduce((a, p) => a + Math.abs(p), 0);
  const ids = tokenSequence(tokens, V, 37);
  const ctx = await GpuContext.create();
  const reference = await GpuModel.create(ctx, file);
  const stepLogits: Float32Array[] = [];
  const stepDrift: Float32Array[] = [];
  for (const id of ids) {
    stepLogits.push(await reference.step(id, { drift: true }));
    stepDrift.push(new Float32Array(await ctx.readBuffer(reference.driftStats!)));
  }
  reference.destroy();
  const model = await GpuModel.create(ctx, file, { maxChunkTokens: Math.max(...plan) });
  let worstRelative = 0;
  let driftMaxRel = 0;
  let argmaxDiffer = 0;
  const check = (at: number, logits: Float32Array, drift: Float32Array) => {
    const c = compareLogits(logits, stepLogits[at]);
    worstRelative = Math.max(worstRelative, c.relative);
    if (!c.argmaxEqual) argmaxDiffer++;
    stepDrift[at].forEach((e, k) => (driftMaxRel = Math.max(driftMaxRel, Math.abs(drift[k] - e) / Math.max(Math.abs(e), 1e-3))));
  };
  let at = 0;
  for (const p of plan) {
    if (p > 0) {
      const chunk = ids.slice(at, at + p);
      const encoder = ctx.device.createCommandEncoder();
      model.encodeChunk(encoder, chunk, { logits: 'all', drift: true });
      ctx.device.queue.submit([encoder.finish()]);
      const logits = new Float32Array(await ctx.readBuffer(model.chunkLogits, p * V * 4));
      const bytes = model.driftStats!.size;
      const drift = new Float32Array(await ctx.readBuffer(model.chunkDriftStats!, p * bytes));
      for (let r = 0; r < p; r++) check(at + r, logits.subarray(r * V, (r + 1) * V), drift.subarray((r * bytes) / 4, ((r + 1) * bytes) / 4));
      at += p;
    } else {
      for (let r = 0; r < -p; r++, at++) {
        const logits = await model.step(ids[at], { drift: true });
        check(at, logits, new Float32Array(await ctx.readBuffer(model.driftStats!)));
      }
    }
  }
  model.destroy();
  ctx.destroy();
  return { adapter: ctx.adapterInfo, tokens, worstRelative, driftMaxRel, argmaxDiffer };
}

export interface SpeedCheck {
  adapter: string;
  promptTokens: number;
  /** Tokens/s of Session.generate's decode (greedy), its chunked prompt prefill, and the old path: one submit per token. */
  decode: number;
  prefillChunked: number;
  prefillTokenPath: number;
  /** TextReader.feed tokens/s: as the app reads (loss, drift, memory every 16) and with the loss only. */
  readingApp: number;
  readingLossOnly: number;
  readTokens: number;
}

/** One run of the speeds the issue compares, same model, same page (numbers for the report, not assertions). */
export async function measureSpeeds(name: string, text: string, decodeTokens: number): Promise<SpeedCheck> {
  const { Session } = await import('../../src/engine/session');
  const { TextReader } = await import('../../src/engine/feed');
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  const session = await Session.create(ctx, file);
  await session.warmUp();
  const reader = new TextReader(ctx, session);
  const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, stopAtEot: false };
  const ids = session.tokenizer.encode(text);
  await reader.feed(text.slice(0, 200), { loss: true, drift: true }); // warm-up of the reader's pipelines
  session.reset();

  const prefill = await session.generate(text, { ...greedy, maxTokens: 0 });
  session.reset();
  const gen = await session.generate('Once upon a time', { ...greedy, maxTokens: decodeTokens });
  session.reset();

  // The previous prefill: one command buffer and submit per token, a wait every 8 tokens.
  const model = session.model;
  const t0 = performance.now();
  ids.forEach((id, i) => {
    session.sampler.writeToken(id);
    const encoder = ctx.device.createCommandEncoder();
    model.encodeStep(encoder, session.sampler.tokenBuffer);
    ctx.device.queue.submit([encoder.finish()]);
    if (i % 8 === 7) void ctx.device.queue.onSubmittedWorkDone();
  });
  await ctx.device.queue.onSubmittedWorkDone();
  const prefillTokenPath = ids.length / ((performance.now() - t0) / 1000);
  session.reset();

  const app = await reader.feed(text, { loss: true, drift: true, memoryEvery: 16 });
  session.reset();
  const lossOnly = await reader.feed(text, { loss: true });
  reader.destroy();
  session.destroy();
  ctx.destroy();
  return {
    adapter: ctx.adapterInfo,
    promptTokens: prefill.promptTokens,
    decode: gen.decodeTokensPerSecond,
    prefillChunked: prefill.prefillTokensPerSecond,
    prefillTokenPath,
    readingApp: app.tokensPerSecond,
    readingLossOnly: lossOnly.tokensPerSecond,
    readTokens: app.read,
  };
}
