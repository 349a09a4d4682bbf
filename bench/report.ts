// Pure helpers of the bench: statistics, formatting and the docs/BENCHMARKS.md renderer. No I/O here, so that
// bench/report.test.ts can check them without a browser.
import type { BenchPageResult, ContextPoint, DecodeCost, KernelResult, KernelTiming, ModelFacts, SamplingMode, SamplingResult, SpeedResult } from './types';
import { kvSlotsAfter } from '../src/engine/model/kv-cache';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  if (values.some((v) => !Number.isFinite(v))) throw new RangeError(`median of non-finite values: ${values.join(', ')}`);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Smallest and largest value: the spread of a few repetitions, shown next to their median. */
export function spread(values: readonly number[]): { min: number; max: number } {
  if (values.length === 0) throw new RangeError('spread of no values');
  return { min: Math.min(...values), max: Math.max(...values) };
}

/** Whether two spreads share any value: then a difference of medians is not distinguishable from noise. */
export function spreadsOverlap(a: { min: number; max: number }, b: { min: number; max: number }): boolean {
  return a.min <= b.max && b.min <= a.max;
}

/** A GitHub-flavoured markdown table; cells are escaped for `|`; every row must have the header's width. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('left' | 'right')[]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  rows.forEach((row, i) => {
    if (row.length !== header.length) throw new RangeError(`table row ${i} has ${row.length} cells, the header ${header.length}`);
  });
  const rule = header.map((_, i) => ((align?.[i] ?? 'left') === 'right' ? '---:' : '---'));
  return [header, rule, ...rows].map((row) => `| ${row.map(escape).join(' | ')} |`).join('\n');
}

/** Fixed decimals with thousands separators (en-US), e.g. 1234.5 → "1,234.5". */
export function formatNumber(value: number, decimals: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Bytes as KiB or MiB with the exact count, e.g. "1.00 MiB (1,048,576)". */
export function formatBytes(bytes: number): string {
  const exact = formatNumber(bytes, 0);
  if (bytes >= 1024 * 1024) return `${formatNumber(bytes / (1024 * 1024), 2)} MiB (${exact})`;
  if (bytes >= 1024) return `${formatNumber(bytes / 1024, 1)} KiB (${exact})`;
  return `${exact} B`;
}

export function msPerToken(tokensPerSecond: number): number {
  return tokensPerSecond > 0 ? 1000 / tokensPerSecond : Number.NaN;
}

/** Expected bytes of the KV caches at T tokens: 2 (K and V) × layers × T × d × 4 (f32). */
export function kvCacheBytes(layers: number, tokens: number, dModel: number): number {
  return 2 * layers * tokens * dModel * 4;
}

/** Slots of an "attn" KV cache after a reset (GpuModel's kvInitialTokens default); it doubles when full. */
export const KV_INITIAL_TOKENS = 8;

export interface SpeedSummary {
  model: ModelFacts;
  promptTokens: number;
  generatedTokens: number;
  runs: number;
  prefill: number;
  decode: number;
  decodeSpread: { min: number; max: number };
  longPromptTokens: number;
  longPrefill: number;
  reading: number;
  readingViews: number;
}

export function summarizeSpeed(result: SpeedResult): SpeedSummary {
  if (result.runs.length === 0) throw new RangeError(`${result.model.id}: no speed runs`);
  return {
    model: result.model,
    promptTokens: result.runs[0]!.promptTokens,
    generatedTokens: result.runs[0]!.generatedTokens,
    runs: result.runs.length,
    prefill: median(result.runs.map((r) => r.prefillTokensPerSecond)),
    decode: median(result.runs.map((r) => r.decodeTokensPerSecond)),
    decodeSpread: spread(result.runs.map((r) => r.decodeTokensPerSecond)),
    longPromptTokens: result.runs[0]!.longPromptTokens,
    longPrefill: median(result.runs.map((r) => r.longPrefillTokensPerSecond)),
    reading: median(result.runs.map((r) => r.readTokensPerSecond)),
    readingViews: median(result.runs.map((r) => r.readViewsTokensPerSecond)),
  };
}

export function samplingMs(result: SamplingResult, mode: SamplingMode): { median: number; min: number; max: number } {
  const runs = result.runs.filter((r) => r.mode === mode);
  if (runs.length === 0) throw new RangeError(`${result.model.id}: no ${mode} sampling runs`);
  const ms = runs.map((r) => msPerToken(r.decodeTokensPerSecond));
  return { median: median(ms), ...spread(ms) };
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  chromium: string;
  /** os.loadavg() (1, 5, 15 min) when the bench started and when it ended: other work on the machine skews timings. */
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

export interface ReportInput {
  date: string;
  command: string;
  machine: MachineInfo;
  /** TTT model id → the KV model id it is compared with (same size). */
  pairs: readonly (readonly [ttt: string, kv: string])[];
  prompt: string;
  decodeTokens: number;
  repetitions: number;
  contextDecodeTokens: number;
  wallSeconds: number;
  /** Where the raw JSON of this run was written, relative to the project root. */
  rawPath: string;
  page: BenchPageResult;
  /** `--baseline REF`: REF's engine measured in the same run, interleaved with this tree's; absent without it. */
  baseline?: BaselineComparison;
}

/** Table 1's measurements of REF's engine and of this tree's, taken alternately in one run (bench/run.ts --baseline). */
export interface BaselineComparison {
  /** REF as given on the command line, e.g. "a0acb9a". */
  ref: string;
  /** REF's full commit hash, committer date (ISO 8601) and subject line. */
  commit: string;
  date: string;
  subject: string;
  /** Why this commit is the baseline, e.g. "the commit issue 19 was filed at"; absent for other commits. */
  note?: string;
  /** This tree's HEAD, and whether tracked files differ from it (then "now" is HEAD plus those changes). */
  currentCommit: string;
  currentDirty: boolean;
  /** Measured runs per model and engine; each call loads the model in a fresh worker and discards one warm-up run. */
  repetitions: number;
  /** The order of the calls per model, e.g. ["baseline", "now", "now", "baseline"]. */
  order: ('baseline' | 'now')[];
  /** The GPU adapter REF's worker reported (this tree's is page.adapter). */
  baselineAdapter: string;
  models: { baseline: SpeedResult; current: SpeedResult }[];
}

function countMixers(model: ModelFacts, kind: string): number {
  return model.mixers.filter((m) => m === kind).length;
}

export interface KvCheck {
  /** The in-use formula, its bytes and the report's kvCache.inUse. */
  formula: string;
  expected: number;
  measured: number;
  equal: boolean;
  /** Allocated: the "attn" slots doubled from KV_INITIAL_TOKENS (src/engine/model/kv-cache.ts), against bytes['kv-cache']. */
  expectedAllocated: number;
  allocated: number;
  allocatedEqual: boolean;
}

/** The KV-cache check of one context point: bytes in use and allocated, predicted and reported. */
export function kvCheck(model: ModelFacts, point: ContextPoint): KvCheck {
  const attn = countMixers(model, 'attn');
  const swa = countMixers(model, 'swa');
  const T = point.position;
  const slots = kvSlotsAfter(T, KV_INITIAL_TOKENS, model.maxContext);
  const parts: string[] = [];
  let expected = 0;
  let expectedAllocated = 0;
  if (attn > 0) {
    expected += kvCacheBytes(attn, T, model.dModel);
    expectedAllocated += kvCacheBytes(attn, slots, model.dModel);
    parts.push(`2 × ${attn} × ${T} × ${model.dModel} × 4`);
  }
  if (swa > 0) {
    // Sliding-window layers keep a fixed ring of `window` slots, whatever the length; in use once full.
    expected += kvCacheBytes(swa, Math.min(T, model.window), model.dModel);
    expectedAllocated += kvCacheBytes(swa, model.window, model.dModel);
    parts.push(`2 × ${swa} × ${Math.min(T, model.window)} (window${T < model.window ? ', filling' : ''}) × ${model.dModel} × 4`);
  }
  const measured = point.memory.kvCache.inUse;
  const allocated = point.memory.bytes['kv-cache'];
  return {
    formula: parts.length > 0 ? parts.join(' + ') : 'none (no attention layer)', expected, measured, equal: expected === measured,
    expectedAllocated, allocated, allocatedEqual: expectedAllocated === allocated,
  };
}


/** Memory tags of GpuContext buffer labels ("tag:name"); other labels count as "other". */
const BUFFER_TAGS = ['weights', 'ttt-state', 'kv-cache', 'activations', 'scratch'] as const;

export function bufferTag(label: string): string {
  const tag = label.split(':', 1)[0]!;
  return (BUFFER_TAGS as readonly string[]).includes(tag) && label.includes(':') ? tag : 'other';
}

/**
 * Bytes one decode step reads, from the buffers each dispatch binds: Σ over dispatches of Σ over their bindings of
 * the buffer's size (the embedding counted as one row of its table). An upper bound: a buffer a dispatch only
 * writes is counted too, and a KV cache at its allocated slots.
 */
export function decodeBytes(cost: DecodeCost): { total: number; byTag: Record<string, number> } {
  const byTag: Record<string, number> = {};
  let total = 0;
  for (const d of cost.dispatches) {
    for (const b of d.buffers) {
      const tag = bufferTag(b.label);
      byTag[tag] = (byTag[tag] ?? 0) + b.size;
      total += b.size;
    }
  }
  return { total, byTag };
}

/**
 * Memory bandwidth of adapters whose vendor publishes it, matched on the adapter string; WebGPU does not expose
 * bandwidth, so any other adapter (SwiftShader included) has none and its fraction is "n/a".
 */
export const KNOWN_BANDWIDTH: readonly { match: RegExp; bytesPerSecond: number; source: string }[] = [
  { match: /H200/i, bytesPerSecond: 4.8e12, source: 'NVIDIA H200 datasheet: 4.8 TB/s HBM3e' },
];

export function knownBandwidth(adapter: string): { bytesPerSecond: number; source: string } | null {
  const hit = KNOWN_BANDWIDTH.find((k) => k.match.test(adapter));
  return hit ? { bytesPerSecond: hit.bytesPerSecond, source: hit.source } : null;
}

export interface KernelRow {
  shape: string;
  rows: number;
  cols: number;
  variant: string;
  engine: boolean;
  microseconds: number;
  /** The 2-bit weight payload (rows × cols / 4 bytes) per second, in GB/s (10⁹). */
  gbPerSecond: number;
  /** legacy µs / this µs at the same shape, in the same run; null without a legacy timing (cols not a multiple of 16). */
  speedUp: number | null;
  fractionOfBandwidth: number | null;
}

export function summarizeKernels(result: KernelResult, adapter: string): KernelRow[] {
  const bandwidth = knownBandwidth(adapter);
  const med = (t: KernelTiming) => median(t.microseconds);
  return result.timings.map((t) => {
    const us = med(t);
    const bytes = (t.shape.rows * t.shape.cols) / 4;
    const bytesPerSecond = bytes / (us * 1e-6);
    const legacy = result.timings.find((l) => l.variant === 'legacy' && l.shape.name === t.shape.name);
    return {
      shape: t.shape.name, rows: t.shape.rows, cols: t.shape.cols, variant: t.variant, engine: t.engine, microseconds: us,
      gbPerSecond: bytesPerSecond / 1e9,
      speedUp: legacy ? med(legacy) / us : null,
      fractionOfBandwidth: bandwidth ? bytesPerSecond / bandwidth.bytesPerSecond : null,
    };
  });
}

const H200_SECTION = `## Real GPU (NVIDIA H200), a different command

These numbers were **not** produced by \`npm run bench\`. They were measured on 2026-11-26 on an NVIDIA H200 with
Node + Dawn/Vulkan (the \`webgpu\` package) by \`e2e/gpu/node-check.ts\`, bundled with \`vite build --ssr\` and run
with \`.gpu-kit\`; quoted from docs/ARCHITECTURE.md ("Accuracy", real-GPU paragraph; commit 71b229c, "GPU parity
test tolerates GPU-dependent int8 tie flips (seen on an H200)"). That script times \`GpuModel\` steps with one
submit per token and **no readback** (no sampling, no worker), so compare them with each other, not with the tables above.

| model | decode tokens/s (H200, Node + Dawn, no readback) |
|---|---:|
| tiny-ttt (random, d 64, 3 layers) | 5,900 |
| tiny-kv (random, d 64, 3 layers) | 4,700 |
| d256 × 6 layers, V 4096 TTT/swa config (random weights, the trained models' shape) | 1,600 |

The same source: the per-dispatch cost dominates there (64 dispatches per token); kernels agreed with the CPU
reference to ≤ 2.2e-7 relative, and greedy argmax agreed on every token.
`;

/** The four rates of table 1, with the min–max of their runs. */
const SPEED_METRICS = [
  { key: 'decodeTokensPerSecond', decimals: 2 },
  { key: 'longPrefillTokensPerSecond', decimals: 1 },
  { key: 'readTokensPerSecond', decimals: 1 },
  { key: 'readViewsTokensPerSecond', decimals: 1 },
] as const;

export interface BaselineRow {
  model: string;
  longPromptTokens: number;
  baseline: SpeedSummary;
  current: SpeedSummary;
  /** now ÷ REF of decode, long prefill, reading, reading as the views read (medians). */
  ratios: number[];
  /** Whether the runs' min–max ranges of the two engines overlap, per rate: then the ratio is within the noise. */
  overlap: boolean[];
}

export function baselineRows(comparison: BaselineComparison): BaselineRow[] {
  return comparison.models.map(({ baseline, current }) => {
    if (baseline.model.id !== current.model.id) throw new RangeError(`baseline ${baseline.model.id} paired with ${current.model.id}`);
    const b = summarizeSpeed(baseline);
    const c = summarizeSpeed(current);
    const medians = (s: SpeedSummary) => [s.decode, s.longPrefill, s.reading, s.readingViews];
    const cm = medians(c);
    const bm = medians(b);
    return {
      model: c.model.id,
      longPromptTokens: c.longPromptTokens,
      baseline: b,
      current: c,
      ratios: cm.map((v, i) => v / bm[i]!),
      overlap: SPEED_METRICS.map(({ key }) => spreadsOverlap(spread(baseline.runs.map((r) => r[key])), spread(current.runs.map((r) => r[key])))),
    };
  });
}

/** The section "Against REF, same run, interleaved" (only with `npm run bench -- --baseline REF`). */
export function renderBaselineSection(comparison: BaselineComparison, currentAdapter: string): string {
  const out: string[] = [];
  const short = comparison.commit.slice(0, 7);
  const now = `now (${comparison.currentCommit.slice(0, 7)}${comparison.currentDirty ? ' + uncommitted changes' : ''})`;
  out.push(`## Against ${short}${comparison.note ? ` (${comparison.note})` : ''}, same run, interleaved`, '');
  out.push(
    `Baseline: commit ${comparison.commit} of ${comparison.date} ("${comparison.subject}"), given as \`--baseline ${comparison.ref}\`. ` +
      `Now: ${comparison.currentDirty ? `${comparison.currentCommit} with uncommitted changes to tracked files` : `commit ${comparison.currentCommit}`}.`,
    '',
  );
  out.push(
    'Method: two Vite dev servers, one serving this tree and one a detached git worktree of the baseline commit (with this tree\'s ' +
      '`node_modules`, and this tree\'s `bench/page.ts`, `bench/types.ts` and `bench/bench.html` copied over its own, so the same ' +
      'measurement code drives both engines through the worker API, `load`, `generate`, `feed`, `reset`), and two pages of one Chromium. ' +
      `Per model, ${comparison.repetitions} measured runs for each engine, one per call, in the order ${comparison.order.map((o) => (o === 'now' ? 'now' : short)).join(', ')}: ` +
      'each call starts a fresh worker, loads the model, discards one warm-up run and measures one, as in table 1 (decode, ' +
      `${comparison.models[0] ? `the ${summarizeSpeed(comparison.models[0].current).longPromptTokens}-token` : 'the'} long prefill, reading, reading as the views read). ` +
      'Alternating the engines run by run makes the machine\'s load drift hit both alike; only the ratios within this run mean anything. ' +
      'Medians; now ÷ baseline above 1: now is faster. "(ranges overlap)": the min–max ranges of the two engines\' runs overlap, ' +
      'so that difference is not distinguishable from this machine\'s noise.',
    '',
  );
  if (comparison.baselineAdapter !== currentAdapter) {
    out.push(`**The adapters differ**: baseline ${comparison.baselineAdapter}, now ${currentAdapter}.`, '');
  }
  const rows = baselineRows(comparison);
  const rate = (s: SpeedSummary) => [formatNumber(s.decode, 2), formatNumber(s.longPrefill, 1), formatNumber(s.reading, 1), formatNumber(s.readingViews, 1)];
  const perDecode = (s: SpeedSummary) => [s.longPrefill, s.reading, s.readingViews].map((v) => `${formatNumber(v / s.decode, 1)}×`);
  const tableRows: string[][] = [];
  for (const r of rows) {
    tableRows.push([r.model, short, ...rate(r.baseline), ...perDecode(r.baseline)]);
    tableRows.push([r.model, now, ...rate(r.current), ...perDecode(r.current)]);
    tableRows.push([
      r.model, `now ÷ ${short}`, ...r.ratios.map((v, i) => `**${formatNumber(v, 2)}×**${r.overlap[i] ? ' (ranges overlap)' : ''}`),
      ...[1, 2, 3].map((i) => `${formatNumber(r.ratios[i]! / r.ratios[0]!, 2)}×`),
    ]);
  }
  out.push(markdownTable(
    ['model', 'engine', 'decode tokens/s', 'long prefill tokens/s', 'reading tokens/s', 'reading as the views tokens/s', 'prefill ÷ decode', 'reading ÷ decode', 'views ÷ decode'],
    tableRows,
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  ), '');
  out.push(
    'The "÷ decode" cells of the now ÷ baseline rows are the change of that ratio (now\'s ratio ÷ the baseline\'s). Runs (tokens/s, in the order measured):',
    '',
  );
  out.push(markdownTable(
    ['model', 'engine', 'decode', 'long prefill', 'reading', 'reading as the views'],
    rows.flatMap((r) => {
      const pair = comparison.models.find((m) => m.current.model.id === r.model)!;
      const runs = (result: SpeedResult) => SPEED_METRICS.map(({ key, decimals }) => result.runs.map((run) => formatNumber(run[key], decimals)).join(', '));
      return [[r.model, short, ...runs(pair.baseline)], [r.model, now, ...runs(pair.current)]];
    }),
    ['left', 'left', 'right', 'right', 'right', 'right'],
  ), '');
  const differing = comparison.models.filter((m) => m.baseline.model.fileBytes !== m.current.model.fileBytes || m.baseline.model.params !== m.current.model.params);
  if (differing.length > 0) {
    out.push(`**The model files differ between the two trees** (${differing.map((m) => m.current.model.id).join(', ')}): the comparison is not of engines alone.`, '');
  }
  return out.join('\n');
}

export function renderReport(input: ReportInput): string {
  const { page, machine } = input;
  const out: string[] = [];
  out.push('# Benchmarks', '');
  out.push(`Generated by \`${input.command}\` on ${input.date} (wall time ${formatNumber(input.wallSeconds, 0)} s). Raw data: \`${input.rawPath}\`.`, '');
  out.push('## Machine', '');
  const load = (l: number[]) => l.map((v) => formatNumber(v, 2)).join(' / ');
  out.push(markdownTable(['item', 'value'], [
    ['CPU', `${machine.cpu} × ${machine.cores} cores`],
    ['memory', `${formatNumber(machine.memoryBytes / 2 ** 30, 1)} GiB`],
    ['OS', machine.os],
    ['Node', machine.node],
    ['browser', `Chromium ${machine.chromium} (headless, Playwright, \`--enable-unsafe-webgpu\`)`],
    ['WebGPU adapter', page.adapter],
    ['load average (1/5/15 min) at start → end', `${load(machine.loadAverageStart)} → ${load(machine.loadAverageEnd)}`],
  ]), '');
  out.push(
    'The machine is shared (other engineers\' builds and tests ran at the same time), and SwiftShader runs the GPU work on ' +
      'those same CPU cores, so single runs vary by up to ~2×; read ratios from the same run, not across runs.',
    '',
  );
  out.push('## Method', '');
  out.push(
    'Everything runs in Chromium through the real engine as the app uses it: `bench/page.ts` creates the Web Worker ' +
      '(`src/worker/client.ts`, comlink) and calls `load`, `generate`, `feed`, `reset`, `memoryReport`. ' +
      'Rates are the engine\'s own (`Session`): prefill = prompt tokens / time until the first sampled token is read back; ' +
      'decode = (generated − 1) / the time after that (one command buffer and one id readback per token). ' +
      `Each model: one warm-up run, then ${input.repetitions} runs; tables show the median. ` +
      `Prompt: "${input.prompt}". Generated tokens per run: ${input.decodeTokens}, end-of-text ignored. ` +
      'No timed assertions anywhere: these are measurements, not tests. ' +
      '`npm run bench -- --baseline REF` (with or without `--quick`) also measures the engine of commit REF in the same run, ' +
      'table 1\'s rates of the d256 pair (with `--quick`: the tiny pair) alternated run by run with this tree\'s, and adds a section ' +
      '"Against REF" before table 1; the other tables are this tree\'s alone.',
    '',
  );
  if (input.baseline) out.push(renderBaselineSection(input.baseline, page.adapter));

  // 1. Speed.
  const speed = page.speed.map(summarizeSpeed);
  out.push('## 1. Decode, prefill and reading speed (greedy)', '');
  out.push(
    'Decode: the short prompt below, then the generated tokens. Long prefill: a ~300-token prompt from the corpus, ' +
      'generate() with maxTokens 1 (prompt tokens ÷ time to the first sampled token, read in chunks by ' +
      '`GpuModel.encodeChunk`). Reading: the same text through `feed()` with the per-token loss. Reading as the views ' +
      'read: the same with the drift stats of every token (TTT models) and the exact memory report every 16 tokens, ' +
      'as the "See inside" views ask (since issue 19 a report ends a chunk only where a KV cache grows, i.e. on models with ' +
      '"attn" layers; TTT/SWA models read whole chunks; at a0acb9a every report ended a chunk). Ratios are to decode of the same model in the same run.',
    '',
  );
  out.push(markdownTable(
    ['model', 'decode tokens/s', 'long prompt tokens', 'long prefill tokens/s', 'reading tokens/s', 'reading as the views tokens/s', 'prefill ÷ decode', 'reading ÷ decode', 'views ÷ decode'],
    speed.map((s) => [
      s.model.id, formatNumber(s.decode, 2), String(s.longPromptTokens), formatNumber(s.longPrefill, 1), formatNumber(s.reading, 1), formatNumber(s.readingViews, 1),
      `${formatNumber(s.longPrefill / s.decode, 1)}×`, `${formatNumber(s.reading / s.decode, 1)}×`, `${formatNumber(s.readingViews / s.decode, 1)}×`,
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  ), '');
  out.push(markdownTable(
    ['model', 'mixers', 'params', 'prompt tokens', 'generated', 'prefill tokens/s', 'decode tokens/s', 'decode min–max', 'decode ms/token'],
    speed.map((s) => [
      s.model.id, s.model.mixers.join(','), formatNumber(s.model.params, 0), String(s.promptTokens), String(s.generatedTokens),
      formatNumber(s.prefill, 1), formatNumber(s.decode, 2), `${formatNumber(s.decodeSpread.min, 1)}–${formatNumber(s.decodeSpread.max, 1)}`,
      formatNumber(msPerToken(s.decode), 1),
    ]),
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  ), '');
  const byId = new Map(speed.map((s) => [s.model.id, s]));
  const ratioRows = input.pairs
    .filter(([ttt, kv]) => byId.has(ttt) && byId.has(kv))
    .map(([ttt, kv]) => {
      const t = byId.get(ttt)!;
      const k = byId.get(kv)!;
      return [`${ttt} / ${kv}`, formatNumber(t.decode / k.decode, 2), formatNumber(t.prefill / k.prefill, 2)];
    });
  if (ratioRows.length > 0) {
    out.push('TTT / KV in the same run (above 1: TTT faster):', '');
    out.push(markdownTable(['pair', 'decode ratio', 'prefill ratio'], ratioRows, ['left', 'right', 'right']), '');
  }

  // 2. Memory against context length.
  out.push('## 2. GPU memory and decode time against context length', '');
  out.push(
    `Measured with \`memoryReport()\` (exact bytes of live GPU buffers, by tag) right after reading a text to the length ` +
      `(\`feed\`, TinyStories validation text), then ${input.contextDecodeTokens} tokens decoded greedily there (prompt " and"): ` +
      'ms/token is their mean. The lengths accumulate in one stream (no reset between them).',
    '',
  );
  for (const result of page.context) {
    const m = result.model;
    out.push(`### ${m.id} (${m.mixers.join(', ')}; d ${m.dModel})`, '');
    out.push(markdownTable(
      ['tokens read', 'weights', 'ttt-state', 'kv-cache allocated', 'kv-cache in use', 'activations', 'scratch', 'total (allocated)', 'decode ms/token', 'read tokens/s'],
      result.points.map((p) => [
        String(p.position), formatBytes(p.memory.bytes.weights), formatBytes(p.memory.bytes['ttt-state']), formatBytes(p.memory.bytes['kv-cache']),
        formatBytes(p.memory.kvCache.inUse), formatBytes(p.memory.bytes.activations), formatBytes(p.memory.bytes.scratch), formatBytes(p.memory.total),
        formatNumber(msPerToken(p.decodeTokensPerSecond), 1), formatNumber(p.feedTokensPerSecond, 1),
      ]),
      ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ), '');
    const checks = result.points.map((p) => ({ p, c: kvCheck(m, p) }));
    out.push(
      'KV cache check: in use `2 × layers × T × d × 4` bytes (f32 K and V; a sliding-window ring holds min(T, window)); ' +
        `allocated: an \`attn\` cache starts at ${KV_INITIAL_TOKENS} slots and doubles when full (capped at maxContext), ` +
        'so it holds at most twice the slots in use and copies O(T) bytes over a context:',
      '',
    );
    out.push(markdownTable(
      ['tokens', 'in use: formula', 'expected bytes', 'measured bytes', 'equal', 'allocated: expected', 'measured', 'equal'],
      checks.map(({ p, c }) => [
        String(p.position), c.formula, formatNumber(c.expected, 0), formatNumber(c.measured, 0), c.equal ? 'yes' : '**no**',
        formatNumber(c.expectedAllocated, 0), formatNumber(c.allocated, 0), c.allocatedEqual ? 'yes' : '**no**',
      ]),
      ['right', 'left', 'right', 'right', 'left', 'right', 'right', 'left'],
    ), '');
    const first = result.points[0];
    const last = result.points.at(-1);
    if (first && last && first !== last) {
      const grow = last.memory.total - first.memory.total;
      out.push(
        `From ${first.position} to ${last.position} tokens the total grew by ${formatBytes(grow)}; ` +
          `ttt-state ${first.memory.bytes['ttt-state'] === last.memory.bytes['ttt-state'] ? 'stayed constant' : 'changed'} ` +
          `(${formatBytes(last.memory.bytes['ttt-state'])}); decode went from ${formatNumber(msPerToken(first.decodeTokensPerSecond), 1)} to ` +
          `${formatNumber(msPerToken(last.decodeTokensPerSecond), 1)} ms/token.`,
        '',
      );
    }
  }

  // 3. Sampling.
  out.push('## 3. Sampling cost', '');
  const params = Object.entries(page.defaultSampling).filter(([k]) => k !== 'maxTokens' && k !== 'stopAtEot').map(([k, v]) => `${k} ${v}`).join(', ');
  out.push(
    `Greedy (temperature 0) against the default sampling parameters (${params}), both on the GPU sampler, ` +
      `${input.decodeTokens} tokens per run, runs interleaved (greedy, default, greedy, …), median of ${input.repetitions} each.`,
    '',
  );
  out.push(markdownTable(
    ['model', 'vocab', 'greedy ms/token (min–max)', 'default ms/token (min–max)', 'default − greedy', 'distinguishable from noise'],
    page.sampling.map((s) => {
      const g = samplingMs(s, 'greedy');
      const d = samplingMs(s, 'default');
      const cell = (m: { median: number; min: number; max: number }) => `${formatNumber(m.median, 1)} (${formatNumber(m.min, 1)}–${formatNumber(m.max, 1)})`;
      return [s.model.id, String(s.model.vocabSize), cell(g), cell(d), formatNumber(d.median - g.median, 1), spreadsOverlap(g, d) ? 'no (ranges overlap)' : 'yes'];
    }),
    ['left', 'right', 'right', 'right', 'right', 'left'],
  ), '');
  out.push(
    'The sampler is one dispatch per token either way; docs/ARCHITECTURE.md measured it alone on SwiftShader at 0.7 ms (greedy) and ' +
      '2.4 ms (these defaults) for V 4096. Where the ranges overlap, that ~2 ms is below this machine\'s run-to-run noise.',
    '',
  );

  // 4. Decode cost per token.
  out.push('## 4. Dispatches and bytes per decode step', '');
  out.push(
    'Counted, not timed: each speed model is loaded once more on the bench page\'s own device (`GpuModel`, `bench/kernels.ts`), ' +
      'its KV caches grown to the length the speed runs ended at (prompt + generated tokens), and `GpuModel.bindingsPerToken()` ' +
      'lists the buffers every dispatch of one token step binds. **Bytes read per token = Σ over dispatches of Σ over their ' +
      'bound buffers of the buffer\'s size**, except the embedding, counted as one row (d × 4 bytes) of its table plus the id. ' +
      'It is an upper bound: outputs a dispatch only writes are counted (small activations: logits are V × 4 bytes), a buffer ' +
      'bound by two dispatches is counted twice (it is read twice), a KV cache counts its allocated slots, and a TTT layer\'s ' +
      'float parameters count whole (w_init included). Weights dominate; the column "weights" is exact for them.',
    '',
  );
  out.push(markdownTable(
    ['model', 'at position', 'dispatches per token', 'bytes per token (bound)', 'weights', 'ttt-state', 'kv-cache', 'activations + scratch'],
    page.decodeCost.map((c) => {
      const b = decodeBytes(c);
      const t = (tag: string) => b.byTag[tag] ?? 0;
      return [
        c.model, String(c.position), String(c.dispatchesPerToken), formatBytes(b.total), formatBytes(t('weights')), formatBytes(t('ttt-state')),
        formatBytes(t('kv-cache')), formatBytes(t('activations') + t('scratch') + t('other')),
      ];
    }),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  ), '');

  // 5. Kernel table.
  out.push('## 5. Ternary matvec kernels', '');
  const bandwidth = knownBandwidth(page.adapter);
  out.push(
    `One BitLinear matvec (int8 x, ternary W, f32 y; ACCUMULATE off) on random weights, timed on the bench page's own device ` +
      `(${page.kernels.kernels}) by timestamp queries at the start and end of one compute pass that repeats the dispatch ` +
      '(the "reps" column; wall clock from submit to completion where the device has no timestamps), median of the passes. ' +
      '"legacy" is the kernel GpuModel used before (one thread per row, 16 weights per u32); "matvec" variants are ' +
      '`bitlinear_matvec` (docs/ARCHITECTURE.md) with subgroup or workgroup-memory reductions and `dot4I8Packed` or a vector ' +
      'integer dot; "engine" marks the one GpuModel uses here. GB/s counts the 2-bit weight payload (rows × cols / 4 bytes) ' +
      'per second; speed-up is legacy time / this time at the same shape in this run. ' +
      (bandwidth
        ? `Fraction of memory bandwidth: of ${formatNumber(bandwidth.bytesPerSecond / 1e9, 0)} GB/s (${bandwidth.source}).`
        : 'Fraction of memory bandwidth: n/a, since WebGPU does not report a bandwidth and this adapter is not in the table of known ones ' +
          '(`KNOWN_BANDWIDTH` in bench/report.ts); on SwiftShader the "GPU" is this machine\'s CPU cores, so only ratios mean anything.'),
    '',
  );
  const kernelRows = summarizeKernels(page.kernels, page.adapter);
  out.push(markdownTable(
    ['shape', 'rows × cols', 'kernel', 'engine', 'reps', 'µs per call', 'weights GB/s', 'speed-up vs legacy', 'of bandwidth', 'timer'],
    kernelRows.map((r, i) => {
      const t = page.kernels.timings[i]!;
      return [
        r.shape, `${r.rows} × ${r.cols}`, r.variant, r.engine ? 'yes' : '', String(t.reps), formatNumber(r.microseconds, 1), formatNumber(r.gbPerSecond, 3),
        r.speedUp === null ? 'n/a' : `${formatNumber(r.speedUp, 2)}×`, r.fractionOfBandwidth === null ? 'n/a' : `${formatNumber(100 * r.fractionOfBandwidth, 1)} %`, t.timer,
      ];
    }),
    ['left', 'right', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
  ), '');

  out.push(H200_SECTION);
  return out.join('\n');
}
