// What the bench runner (bench/run.ts, Node) asks the bench page (bench/page.ts, Chromium) to measure, and what
// the page hands back. Plain JSON both ways: it crosses page.evaluate().
import type { MemoryReport } from '../src/engine/types';

export interface BenchModel {
  /** Manifest id, e.g. "ttt-hybrid-d256". */
  id: string;
  /** URL on the dev server, e.g. "/models/ttt-hybrid-d256.bttt". */
  url: string;
}

export interface BenchConfig {
  /** Models of table 1 (speed) and table 3 (sampling). */
  speedModels: BenchModel[];
  /** Models of table 2 (memory and ms/token against context length). */
  contextModels: BenchModel[];
  prompt: string;
  /** Tokens generated per run in tables 1 and 3. */
  decodeTokens: number;
  /** Measured runs per model (after one discarded warm-up run); tables report the median. */
  repetitions: number;
  /** Context lengths (tokens read) of table 2, ascending, multiples of 8 (the KV cache's growth block). */
  contextLengths: number[];
  /** Tokens decoded at each context length of table 2. */
  contextDecodeTokens: number;
  /** Text read to reach the context lengths (tokenized in the page with each model's tokenizer). */
  corpus: string;
  /** The model whose BitLinear shapes are the kernel table's "shipped" shapes. */
  kernelShapesModel: BenchModel;
  /** Extra kernel shapes, [rows (out), cols (in)]. */
  kernelExtraShapes: [number, number][];
  /** Each kernel timing repeats the dispatch in one pass for about this long. */
  kernelTargetMs: number;
  /** Timed passes per kernel and shape (the table shows their median). */
  kernelTrials: number;
}

/** The buffers one dispatch of a decode step binds (GpuModel.bindingsPerToken); labels are "tag:name". */
export interface DispatchBindings {
  label: string;
  buffers: { label: string; size: number }[];
}

export interface DecodeCost {
  model: string;
  /** The position the KV caches were grown to (GpuModel.prepare) before the bindings were read. */
  position: number;
  dispatchesPerToken: number;
  dispatches: DispatchBindings[];
}

export interface KernelShape {
  /** E.g. "ttt.in (q,k,v,g)" or "2560×6912". */
  name: string;
  rows: number;
  cols: number;
}

export interface KernelTiming {
  shape: KernelShape;
  /** "legacy" (one thread per row, 16 weights per u32) or a matvec variant, e.g. "matvec subgroups+dot4". */
  variant: string;
  /** The variant GpuModel uses on this device. */
  engine: boolean;
  /** Dispatches per timed pass. */
  reps: number;
  /** µs per dispatch of each timed pass. */
  microseconds: number[];
  timer: 'timestamp-query' | 'wall clock';
}

export interface KernelResult {
  /** GpuContext.describeKernels() of the bench page's device. */
  kernels: string;
  timings: KernelTiming[];
}

export interface ModelFacts {
  id: string;
  arch: string;
  mixers: string[];
  params: number;
  dModel: number;
  nLayers: number;
  vocabSize: number;
  window: number;
  /** The most positions an "attn" KV cache may hold (caps its doubling). */
  maxContext: number;
  fileBytes: number;
}

export interface SpeedRun {
  promptTokens: number;
  generatedTokens: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** The long prompt (a few hundred tokens of the corpus): its prefill alone (generate with maxTokens 1). */
  longPromptTokens: number;
  longPrefillTokensPerSecond: number;
  /** The same text read by feed() with the per-token loss only (no drift stats, no memory reports). */
  readTokensPerSecond: number;
  /**
   * The same text read as the "See inside" views read it: loss, drift stats per token (TTT models) and the exact
   * memory report every 16 tokens (a report ends a chunk only on models whose KV cache grows: "attn" layers).
   */
  readViewsTokensPerSecond: number;
}

export interface SpeedResult {
  model: ModelFacts;
  runs: SpeedRun[];
}

export interface ContextPoint {
  /** The length asked for. */
  target: number;
  /** Tokens read when the memory report was taken (equals target when the text could be cut exactly there). */
  position: number;
  memory: MemoryReport;
  /** Throughput of the reading (TextReader.feed through the worker) that reached this length. */
  feedTokensPerSecond: number;
  /** Generated tokens right after the report, greedy: their decode rate at this context length. */
  decodeTokens: number;
  decodeTokensPerSecond: number;
}

export interface ContextResult {
  model: ModelFacts;
  points: ContextPoint[];
}

export type SamplingMode = 'greedy' | 'default';

export interface SamplingRun {
  mode: SamplingMode;
  generatedTokens: number;
  decodeTokensPerSecond: number;
}

export interface SamplingResult {
  model: ModelFacts;
  /** Interleaved greedy/default runs, warm-up excluded. */
  runs: SamplingRun[];
}

export interface BenchPageResult {
  /** The engine's GPU adapter string (GpuContext.adapterInfo, from the worker). */
  adapter: string;
  userAgent: string;
  speed: SpeedResult[];
  context: ContextResult[];
  sampling: SamplingResult[];
  /** Per speed model: dispatches and bound buffers of one decode step. */
  decodeCost: DecodeCost[];
  kernels: KernelResult;
  /** Default sampling parameters used in table 3 (src/engine/types.ts DEFAULT_SAMPLING). */
  defaultSampling: Record<string, number | boolean>;
  pageSeconds: number;
}

/** Table 1's measurement alone (BenchPageApi.speed): what `npm run bench -- --baseline REF` runs in both engines' pages. */
export interface BenchSpeedPageResult {
  /** The engine's GPU adapter string (GpuContext.adapterInfo, from the worker). */
  adapter: string;
  speed: SpeedResult[];
}

/** Installed on window by bench/page.ts. */
export interface BenchPageApi {
  run(config: BenchConfig): Promise<BenchPageResult>;
  /**
   * Only the speed measurement (table 1) of config.speedModels, with config.repetitions runs after one warm-up, in a
   * worker of its own: no sampling, context or kernel measurements.
   */
  speed(config: BenchConfig): Promise<BenchSpeedPageResult>;
}
