// In-page check of TextReader (src/engine/feed.ts): per-token loss and drift against a second GpuModel stepped
// token by token with full logits read back (the same kernels, so int8 rounding ties cannot blur the comparison;
// model.spec.ts covers GPU vs CPU), the heatmap matrix W̄ − w_init against the CPU reference, and the memory
// samples. Loaded by feed.spec.ts with a dynamic import.
import { GpuContext } from '../../src/engine/gpu/context';
import { TextReader, type FeedToken, type FeedMemorySample } from '../../src/engine/feed';
import { Session } from '../../src/engine/session';
import { ReferenceModel } from '../../src/engine/reference/model';
import { GpuModel } from '../../src/engine/gpu/model';
import { loadTiny } from './parity';

export interface FeedCheck {
  tokens: number;
  lossDiffs: number[];
  refLosses: number[];
  driftMaxRel: number;
  w0ByPosition: number[];
  matrixMaxAbs: number;
  matrixNorm: number;
  lastNorm: number;
  memory: FeedMemorySample[];
  progressCalls: number;
  tokensPerSecond: number;
  firstLoss: number | null;
  cancelledRead: number;
  cancelledReason: string;
  /** Tokens per chunk at most (GpuModel.maxChunkTokens): the reader's unit of progress and of cancel. */
  maxChunkTokens: number;
  /** KV bytes in use after the token-by-token oracle read the whole text. */
  swaRingBytes: number;
}

export async function checkFeed(name: string, text: string): Promise<FeedCheck> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  const session = await Session.create(ctx, file);
  const reader = new TextReader(ctx, session);
  const ref = new ReferenceModel(file);
  const tokens: FeedToken[] = [];
  const memory: FeedMemorySample[] = [];
  let progressCalls = 0;
  const result = await reader.feed(text, { drift: true, loss: true, memoryEvery: 16 }, (p) => {
    progressCalls++;
    tokens.push(...p.tokens);
    memory.push(...p.memory);
  });
  // Created after the feed so that its buffers are not in the feed's memory samples (one context).
  const oracle = await GpuModel.create(ctx, file);
  const lossDiffs: number[] = [];
  const refLosses: number[] = [];
  let driftMaxRel = 0;
  let previous: Float32Array | null = null;
  for (const t of tokens) {
    if (previous) {
      let max = -Infinity;
      for (const v of previous) max = Math.max(max, v);
      let sum = 0;
      for (const v of previous) sum += Math.exp(v - max);
      const refLoss = max + Math.log(sum) - previous[t.id];
      refLosses.push(refLoss);
      lossDiffs.push(Math.abs((t.loss ?? NaN) - refLoss));
    }
    ref.step(t.id);
    previous = await oracle.step(t.id, { drift: true });
    const rd = await oracle.readDrift();
    (t.drift ?? []).forEach((layer, l) =>
      layer.heads.forEach((h, i) => {
        const r = rd[l].heads[i];
        for (const key of ['norm', 'cos', 'lossBefore', 'lossAfter', 'w0Norm'] as const) {
          driftMaxRel = Math.max(driftMaxRel, Math.abs(h[key] - r[key]) / Math.max(Math.abs(r[key]), 1e-3));
        }
      }),
    );
  }
  const layer = session.model.tttLayers[0] ?? -1;
  let matrixMaxAbs = 0;
  let matrixNorm = 0;
  if (layer >= 0) {
    const gpuDelta = await session.model.tttMatrixDelta(layer, 1);
    const f = file.config.dModel / file.config.nHeads;
    const s = ref.tttState(layer);
    const wInit = (file.tensors.get(`l${layer}.ttt.w_init`) as { data: Float32Array }).data;
    for (let e = 0; e < f * f; e++) {
      const r = s.Wbar[f * f + e] - wInit[f * f + e];
      matrixMaxAbs = Math.max(matrixMaxAbs, Math.abs(gpuDelta[e] - r));
      matrixNorm += gpuDelta[e] * gpuDelta[e];
    }
    matrixNorm = Math.sqrt(matrixNorm);
  }
  const swaRingBytes = oracle.memoryReport().kvCache.inUse;
  // Cancel: abort before the second chunk.
  const abort = new AbortController();
  const cancelled = await reader.feed(text, { signal: abort.signal }, () => abort.abort());
  reader.destroy();
  oracle.destroy();
  session.destroy();
  ctx.destroy();
  return {
    tokens: tokens.length,
    lossDiffs,
    refLosses,
    driftMaxRel,
    w0ByPosition: tokens.map((t) => t.drift?.[0]?.heads[1].w0Norm ?? NaN),
    matrixMaxAbs,
    matrixNorm,
    lastNorm: tokens[tokens.length - 1].drift?.[0]?.heads[1].norm ?? NaN,
    memory,
    progressCalls,
    tokensPerSecond: result.tokensPerSecond,
    firstLoss: tokens[0].loss,
    cancelledRead: cancelled.read,
    cancelledReason: cancelled.stopReason,
    maxChunkTokens: session.model.maxChunkTokens,
    swaRingBytes,
  };
}

export interface LossCost {
  vocab: number;
  withLoss: number[];
  withoutLoss: number[];
  lossesWhenOff: (number | null)[];
  lossesWhenOn: (number | null)[];
}

/** Tokens/s of reading `text` with and without the per-token loss kernel, alternating runs from a reset state. */
export async function measureLossCost(name: string, text: string, runs = 2): Promise<LossCost> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  const session = await Session.create(ctx, file);
  const reader = new TextReader(ctx, session);
  const out: LossCost = { vocab: file.config.vocabSize, withLoss: [], withoutLoss: [], lossesWhenOff: [], lossesWhenOn: [] };
  await reader.feed(text, { loss: true }); // warm-up: pipelines and first-use costs
  for (let r = 0; r < runs; r++) {
    for (const loss of [false, true]) {
      session.reset();
      const losses: (number | null)[] = [];
      const result = await reader.feed(text, { loss }, (p) => losses.push(...p.tokens.map((t) => t.loss)));
      (loss ? out.withLoss : out.withoutLoss).push(result.tokensPerSecond);
      if (loss) out.lossesWhenOn = losses;
      else out.lossesWhenOff = losses;
    }
  }
  reader.destroy();
  session.destroy();
  ctx.destroy();
  return out;
}

export interface FeedHistoryCheck {
  /** What the reader reported and the ids the sampler's penalty history holds afterwards, per case. */
  cases: { name: string; stopReason: string; read: number; total: number; expected: number[]; history: number[] }[];
  maxChunkTokens: number;
}

/**
 * The repetition-penalty history after a reading that stopped early holds exactly the ids the model read:
 * tiny-ttt cancelled after the first chunk, tiny-kv with maxContext cut to 20 (the context fills mid-text).
 */
export async function checkFeedHistory(text: string): Promise<FeedHistoryCheck> {
  const ctx = await GpuContext.create();
  const cases: FeedHistoryCheck['cases'] = [];
  let maxChunkTokens = 0;
  try {
    const ttt = await Session.create(ctx, await loadTiny('tiny-ttt'));
    const reader = new TextReader(ctx, ttt);
    maxChunkTokens = ttt.model.maxChunkTokens;
    const abort = new AbortController();
    const cancelled = await reader.feed(text, { signal: abort.signal }, () => abort.abort());
    cases.push({ name: 'cancelled', stopReason: cancelled.stopReason, read: cancelled.read, total: cancelled.total, expected: ttt.tokenizer.encode(text).slice(0, cancelled.read), history: await ttt.sampler.historyIds() });
    reader.destroy();
    ttt.destroy();

    const kvFile = await loadTiny('tiny-kv');
    const kv = await Session.create(ctx, { ...kvFile, config: { ...kvFile.config, maxContext: 20 } });
    const kvReader = new TextReader(ctx, kv);
    const full = await kvReader.feed(text, {});
    cases.push({ name: 'context-full', stopReason: full.stopReason, read: full.read, total: full.total, expected: kv.tokenizer.encode(text).slice(0, full.read), history: await kv.sampler.historyIds() });
    kvReader.destroy();
    kv.destroy();
  } finally {
    ctx.destroy();
  }
  return { cases, maxChunkTokens };
}
