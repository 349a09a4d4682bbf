// The measurements, run inside Chromium through the real engine: the Web Worker behind comlink, as the UI uses it.
// bench/run.ts opens this page and calls window.bitTttBench.run(config); progress goes to the console.
import { createEngineClient, type EngineClient } from '../src/worker/client';
import { readBtttHeader } from '../src/engine/format';
import { Tokenizer } from '../src/engine/tokenizer/tokenizer';
import { DEFAULT_SAMPLING, type SamplingParams } from '../src/engine/types';
import type { ModelInfo } from '../src/worker/api';
import { measureDecodeCost, measureKernels } from './kernels';
import type {
  BenchConfig, BenchModel, BenchPageApi, BenchSpeedPageResult, DecodeCost, BenchPageResult, ContextPoint, ContextResult, ModelFacts, SamplingResult, SamplingRun, SpeedResult, SpeedRun,
} from './types';

declare global {
  interface Window {
    bitTttBench?: BenchPageApi;
  }
}

/** Read before the decode steps timed at each context length. */
const CONTEXT_PROMPT = ' and';

/** The worker's GPU adapter string, as the engine reports it at load. */
let adapter = 'unknown';

function log(message: string): void {
  console.log(`[bench] ${message}`);
}

function greedy(maxTokens: number): SamplingParams {
  return { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, maxTokens, stopAtEot: false };
}

function defaultSampling(maxTokens: number): SamplingParams {
  // Never stop early: every run decodes the same number of tokens.
  return { ...DEFAULT_SAMPLING, maxTokens, stopAtEot: false };
}

function factsOf(model: BenchModel, info: ModelInfo): ModelFacts {
  const c = info.config;
  return { id: model.id, arch: c.arch, mixers: c.mixers, params: info.params, dModel: c.dModel, nLayers: c.nLayers, vocabSize: c.vocabSize, window: c.window, maxContext: c.maxContext, fileBytes: info.fileBytes };
}

async function load(client: EngineClient, model: BenchModel): Promise<ModelInfo> {
  log(`loading ${model.id}`);
  const info = await client.api.load({ kind: 'url', url: model.url });
  adapter = info.adapter;
  return info;
}

/** Tokens of the long prompt / text read by the speed runs (the measurement used a 322-token prompt). */
const LONG_PROMPT_TOKENS = 320;

/** The corpus's first LONG_PROMPT_TOKENS tokens for this model's tokenizer (fewer if its context is shorter). */
async function longPromptOf(model: BenchModel, corpus: string, maxContext: number): Promise<string> {
  const bytes = new Uint8Array(await (await fetch(model.url)).arrayBuffer());
  const tokenizer = Tokenizer.fromSpec(readBtttHeader(bytes).tokenizer);
  return new CorpusCutter(tokenizer, tokenizer.encode(corpus)).next(Math.min(LONG_PROMPT_TOKENS, Math.floor(maxContext / 2))).text;
}

async function measureSpeed(client: EngineClient, model: BenchModel, config: BenchConfig): Promise<SpeedResult> {
  const info = await load(client, model);
  const runs: SpeedRun[] = [];
  const longPrompt = await longPromptOf(model, config.corpus, info.config.maxContext);
  // At rest: since 13afac1 a load leaves the drift chunk kernel compiling in the background (~5 s of SwiftShader's
  // CPU), and a reading with drift waits for it; read a little with drift first, so that no compile runs beside the
  // timed work (the baseline's engine compiles that kernel here too).
  await client.api.feed(config.prompt, { loss: true, drift: info.config.mixers.includes('ttt') });
  for (let rep = 0; rep <= config.repetitions; rep++) {
    await client.api.reset();
    const r = await client.api.generate(config.prompt, greedy(config.decodeTokens));
    if (rep === 0) continue; // warm-up: first-use costs (buffer mapping, JIT of host code) stay out of the table
    // Prefill and reading of a long text, measured apart from decode (the short prompt's prefill is mostly the
    // latency of the first sampled token).
    await client.api.reset();
    const long = await client.api.generate(longPrompt, greedy(1));
    await client.api.reset();
    const read = await client.api.feed(longPrompt, { loss: true });
    await client.api.reset();
    const views = await client.api.feed(longPrompt, { loss: true, drift: info.config.mixers.includes('ttt'), memoryEvery: 16 });
    runs.push({
      promptTokens: r.promptTokens, generatedTokens: r.tokens.length, prefillTokensPerSecond: r.prefillTokensPerSecond, decodeTokensPerSecond: r.decodeTokensPerSecond,
      longPromptTokens: long.promptTokens, longPrefillTokensPerSecond: long.prefillTokensPerSecond, readTokensPerSecond: read.tokensPerSecond,
      readViewsTokensPerSecond: views.tokensPerSecond,
    });
    log(`${model.id} speed run ${rep}: prefill ${r.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${r.decodeTokensPerSecond.toFixed(2)} tok/s, ` +
      `${long.promptTokens}-token prefill ${long.prefillTokensPerSecond.toFixed(1)} tok/s, reading ${read.tokensPerSecond.toFixed(1)} tok/s (as the views read: ${views.tokensPerSecond.toFixed(1)})`);
  }
  return { model: factsOf(model, info), runs };
}

async function measureSampling(client: EngineClient, model: BenchModel, config: BenchConfig): Promise<SamplingResult> {
  const info = await load(client, model);
  const runs: SamplingRun[] = [];
  // Interleaved, so that drift in the machine's speed hits both modes alike; the first pair warms up.
  for (let rep = 0; rep <= config.repetitions; rep++) {
    for (const mode of ['greedy', 'default'] as const) {
      await client.api.reset();
      const params = mode === 'greedy' ? greedy(config.decodeTokens) : defaultSampling(config.decodeTokens);
      const r = await client.api.generate(config.prompt, params);
      if (rep === 0) continue;
      runs.push({ mode, generatedTokens: r.tokens.length, decodeTokensPerSecond: r.decodeTokensPerSecond });
      log(`${model.id} sampling ${mode} run ${rep}: ${(1000 / r.decodeTokensPerSecond).toFixed(1)} ms/token`);
    }
  }
  return { model: factsOf(model, info), runs };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/**
 * Cuts the corpus's token ids into texts that feed() reads as exactly those ids: a cut inside a word could
 * tokenize differently, so the end is moved back until decode → encode gives the same ids.
 */
class CorpusCutter {
  private cursor = 0;
  constructor(private readonly tokenizer: Tokenizer, private readonly ids: readonly number[]) {}

  next(count: number): { text: string; tokens: number } {
    const end = Math.min(this.cursor + count, this.ids.length);
    for (let cut = end; cut > this.cursor; cut--) {
      const slice = this.ids.slice(this.cursor, cut);
      const text = this.tokenizer.decode(slice);
      if (sameIds(this.tokenizer.encode(text), slice)) {
        this.cursor = cut;
        return { text, tokens: slice.length };
      }
    }
    throw new Error(`the bench corpus ran out at token ${this.cursor} of ${this.ids.length}; give a longer text`);
  }
}

async function measureContext(client: EngineClient, model: BenchModel, config: BenchConfig): Promise<ContextResult> {
  const bytes = new Uint8Array(await (await fetch(model.url)).arrayBuffer());
  const tokenizer = Tokenizer.fromSpec(readBtttHeader(bytes).tokenizer);
  const cutter = new CorpusCutter(tokenizer, tokenizer.encode(config.corpus));
  const info = await load(client, model);
  await client.api.reset();
  const points: ContextPoint[] = [];
  // generate() leaves its last sampled token for the next call to read first (feed() reads it before the text).
  let pendingToken = false;
  for (const target of config.contextLengths) {
    let position = (await client.api.stats()).position;
    let fedTokens = 0;
    let feedSeconds = 0;
    while (position + (pendingToken ? 1 : 0) < target) {
      const { text } = cutter.next(target - position - (pendingToken ? 1 : 0));
      const r = await client.api.feed(text, { loss: false });
      if (r.stopReason !== 'done') throw new Error(`${model.id}: reading to ${target} tokens stopped: ${r.stopReason}`);
      const read = r.read + (pendingToken ? 1 : 0);
      fedTokens += read;
      feedSeconds += r.tokensPerSecond > 0 ? r.read / r.tokensPerSecond : 0;
      pendingToken = false;
      position = (await client.api.stats()).position;
      log(`${model.id}: read to ${position}/${target} tokens at ${r.tokensPerSecond.toFixed(1)} tok/s`);
    }
    const memory = await client.api.memoryReport();
    // A short prompt (a word or two of tokens) so that the step times are those of decoding at this length.
    const g = await client.api.generate(CONTEXT_PROMPT, greedy(config.contextDecodeTokens));
    pendingToken = g.tokens.length > 0;
    points.push({
      target,
      position: memory.position,
      memory,
      feedTokensPerSecond: feedSeconds > 0 ? fedTokens / feedSeconds : 0,
      decodeTokens: g.tokens.length,
      decodeTokensPerSecond: g.decodeTokensPerSecond,
    });
    log(`${model.id} @ ${memory.position}: total ${memory.total} B, kv ${memory.bytes['kv-cache']} B, ttt ${memory.bytes['ttt-state']} B, decode ${(1000 / g.decodeTokensPerSecond).toFixed(1)} ms/token`);
  }
  return { model: factsOf(model, info), points };
}

async function run(config: BenchConfig): Promise<BenchPageResult> {
  const started = performance.now();
  const client = createEngineClient();
  try {
    const speed: SpeedResult[] = [];
    const sampling: SamplingResult[] = [];
    const context: ContextResult[] = [];
    for (const model of config.speedModels) speed.push(await measureSpeed(client, model, config));
    for (const model of config.speedModels) sampling.push(await measureSampling(client, model, config));
    for (const model of config.contextModels) context.push(await measureContext(client, model, config));
    client.dispose(); // the worker's device idles from here; the page measures on its own
    // Bytes and dispatches of a decode step at the length the speed runs ended at (prompt + generated tokens).
    const decodeCost: DecodeCost[] = [];
    for (const s of speed) {
      const run = s.runs[0];
      const model = config.speedModels.find((m) => m.id === s.model.id)!;
      decodeCost.push(await measureDecodeCost(model, run ? run.promptTokens + run.generatedTokens : 0));
    }
    const kernels = await measureKernels(config);
    return {
      adapter,
      userAgent: navigator.userAgent,
      speed,
      context,
      sampling,
      decodeCost,
      kernels,
      defaultSampling: { ...DEFAULT_SAMPLING },
      pageSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    client.dispose();
  }
}

/**
 * Table 1's measurement alone, in a worker of its own: `npm run bench -- --baseline REF` calls it in this page and in
 * the same page served from REF's tree (bench/run.ts copies this file there), alternating, one repetition a call.
 */
async function speed(config: BenchConfig): Promise<BenchSpeedPageResult> {
  const client = createEngineClient();
  try {
    const results: SpeedResult[] = [];
    for (const model of config.speedModels) results.push(await measureSpeed(client, model, config));
    return { adapter, speed: results };
  } finally {
    client.dispose();
  }
}

window.bitTttBench = { run, speed };
