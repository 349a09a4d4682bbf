// The measured series behind the "See inside" views (drift per head, memory by tag, decode time, reading loss) and
// their export as JSON and CSV. Everything here is what the engine reported; the only computed values are the
// projections, which carry `computed: true` in the export and are drawn dashed.
import type { FeedMemorySample, FeedToken } from '../../engine/feed';
import type { LayerMemory, MemoryTag, ModelConfig } from '../../engine/types';

export const DRIFT_METRICS = ['norm', 'cos', 'lossBefore', 'lossAfter', 'w0Norm'] as const;
export type DriftMetric = (typeof DRIFT_METRICS)[number];
export const MEMORY_TAGS: MemoryTag[] = ['weights', 'ttt-state', 'kv-cache', 'activations', 'scratch'];

/** One head's drift over the tokens of a reading (index i ↔ ReadingSeries.positions[i]). */
export interface HeadSeries {
  layer: number;
  head: number;
  values: Record<DriftMetric, number[]>;
}

export interface MemoryPoint {
  tokens: number;
  /** Allocated bytes per tag (live GPU buffers); bytes['kv-cache'] includes slots the cache has grown into but not filled. */
  bytes: Record<MemoryTag, number>;
  total: number;
  /** Bytes of the kv-cache that hold tokens (MemoryReport.kvCache.inUse). */
  kvInUse: number;
  /** Each block's own bytes and state in use (MemoryReport.layers), where the engine gave them. */
  layers?: LayerMemory[];
}

/** A block's state as the memory view's per-block table shows it: what holds something, of what is allocated. */
export function blockState(l: LayerMemory): { kind: string; inUse: number; allocated: number } {
  const kind = l.mixer === 'ttt' ? 'TTT state' : l.mixer === 'swa' ? 'SWA ring' : 'KV cache';
  return { kind, inUse: l.stateInUse, allocated: l.bytes['ttt-state'] + l.bytes['kv-cache'] };
}

/** One reading of a text by one model. */
export interface ReadingSeries {
  model: string;
  arch: 'ttt' | 'kv';
  /** 1 for the first reading of the text, 2 for the second (the state carried over), … */
  pass: number;
  positions: number[];
  ids: number[];
  texts: string[];
  /** −ln p(token | prefix) in nats; null where there is no prefix. */
  loss: (number | null)[];
  /** ms per token of the readback chunk the token was in. */
  ms: number[];
  heads: HeadSeries[];
  memory: MemoryPoint[];
  stopReason?: string;
  tokensPerSecond?: number;
  /** ‖W̄ − W_init‖_F per head before the first token of the reading (from the engine's matrix readback). */
  initialNorms?: { layer: number; head: number; norm: number }[];
  /** A TTT model read with its memory off (inner learning rate × 0: the state stays at W_init). */
  memoryOff?: boolean;
}

export function emptyReading(model: string, arch: 'ttt' | 'kv', pass: number): ReadingSeries {
  return { model, arch, pass, positions: [], ids: [], texts: [], loss: [], ms: [], heads: [], memory: [] };
}

/** Appends the tokens and memory samples of one FeedProgress message. */
export function appendFeed(series: ReadingSeries, tokens: FeedToken[], memory: FeedMemorySample[]): void {
  for (const t of tokens) {
    series.positions.push(t.position);
    series.ids.push(t.id);
    series.texts.push(t.text);
    series.loss.push(t.loss);
    series.ms.push(t.ms);
    if (t.drift) {
      let k = 0;
      for (const layer of t.drift) {
        layer.heads.forEach((h, head) => {
          let s = series.heads[k];
          if (!s) {
            s = { layer: layer.layer, head, values: { norm: [], cos: [], lossBefore: [], lossAfter: [], w0Norm: [] } };
            // Heads that appear late are padded so that every index lines up with positions.
            for (const m of DRIFT_METRICS) s.values[m] = new Array<number>(series.positions.length - 1).fill(NaN);
            series.heads[k] = s;
          }
          for (const m of DRIFT_METRICS) s.values[m].push(h[m]);
          k++;
        });
      }
    }
  }
  for (const m of memory) series.memory.push({ tokens: m.tokens, bytes: { ...m.report.bytes }, total: m.report.total, kvInUse: m.report.kvCache.inUse, layers: m.report.layers?.map((l) => ({ ...l, bytes: { ...l.bytes } })) });
}

/** Mean of the non-null losses (null if there are none). */
export function meanLoss(loss: (number | null)[]): number | null {
  let sum = 0;
  let n = 0;
  for (const v of loss) {
    if (v !== null && Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n > 0 ? sum / n : null;
}

/**
 * Bytes of the "attn" layers' decode state at T tokens (MATH.md): the KV cache 2 × attn-layers × T × d × 4 (f32), plus
 * their conv histories 3 × (K−1) × d × 4 each with config.attn.convKernel K > 0 (constant; tagged kv-cache too).
 */
export function kvCacheBytes(config: Pick<ModelConfig, 'mixers' | 'dModel' | 'attn'>, tokens: number): number {
  const attnLayers = config.mixers.filter((m) => m === 'attn').length;
  const K = config.attn?.convKernel ?? 0;
  return attnLayers * (2 * tokens + (K > 0 ? 3 * (K - 1) : 0)) * config.dModel * 4;
}

export interface ProjectionPoint {
  tokens: number;
  bytes: number;
  /** Always true: derived from the config and the last measurement, not measured. */
  computed: true;
}

/**
 * Total GPU bytes at `targets` tokens, from the last measured sample: everything but the "attn" KV cache is constant
 * in the context length (weights, TTT state, swa ring, activations), the KV cache follows kvCacheBytes — the bytes in
 * use; the engine's allocation (doubling when full) is between that and twice the cache.
 */
export function projectTotals(config: Pick<ModelConfig, 'mixers' | 'dModel' | 'attn'>, last: MemoryPoint, targets: number[]): ProjectionPoint[] {
  const constant = last.total - (config.mixers.includes('attn') ? last.bytes['kv-cache'] : 0);
  return targets.map((tokens) => ({ tokens, bytes: constant + kvCacheBytes(config, tokens), computed: true }));
}

export const PROJECTION_TOKENS = [8192, 32768, 131072];
export const GPU_CAPACITY_BYTES = 8 * 1024 ** 3;

export interface ViewsExport {
  format: 'bit-ttt-views';
  version: 1;
  exportedAt: string;
  readings: (ReadingSeries & { meanLoss: number | null })[];
  projections: { model: string; arch: 'ttt' | 'kv'; points: ProjectionPoint[] }[];
  /** Mean loss of each pass per model (and memory setting), and the drop from the first to the second reading. */
  learning: LearningSummary[];
}

export interface LearningSummary {
  model: string;
  /** 'off': the TTT model read with its memory off; 'on' for every other reading. */
  memory: 'on' | 'off';
  /** Mean nats per token of the first and the second reading. */
  firstMean: number | null;
  secondMean: number | null;
  /** 1 − secondMean / firstMean, as `npm run eval -- --read-twice` reports it (docs/DIAGNOSTICS.md). */
  drop: number | null;
  /** firstMean − secondMean, nats per token. */
  dropNats: number | null;
}

export function learningSummary(readings: ReadingSeries[]): LearningSummary[] {
  const keys = [...new Set(readings.map((r) => `${r.memoryOff ? 'off' : 'on'} ${r.model}`))];
  return keys.map((key) => {
    const memory = key.startsWith('off') ? 'off' : 'on';
    const model = key.slice(key.indexOf(' ') + 1);
    const of = (pass: number) => readings.find((r) => r.model === model && (r.memoryOff ? 'off' : 'on') === memory && r.pass === pass);
    const first = of(1);
    const second = of(2);
    const firstMean = first ? meanLoss(first.loss) : null;
    const secondMean = second ? meanLoss(second.loss) : null;
    const both = firstMean !== null && secondMean !== null;
    return { model, memory, firstMean, secondMean, drop: both ? 1 - secondMean / firstMean : null, dropNats: both ? firstMean - secondMean : null };
  });
}

export function buildExport(readings: ReadingSeries[], projections: ViewsExport['projections'], now = new Date()): ViewsExport {
  return {
    format: 'bit-ttt-views',
    version: 1,
    exportedAt: now.toISOString(),
    readings: readings.map((r) => ({ ...r, meanLoss: meanLoss(r.loss) })),
    projections,
    learning: learningSummary(readings),
  };
}

/** JSON with NaN written as null (JSON has no NaN). */
export function exportJson(data: ViewsExport): string {
  return JSON.stringify(data, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1);
}

function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(rows: (string | number | null | undefined)[][]): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** One row per token of every reading: loss, ms and each head's drift metrics (columns l{layer}h{head}_{metric}). */
export function tokensCsv(readings: ReadingSeries[]): string {
  const headKeys: string[] = [];
  for (const r of readings) for (const h of r.heads) for (const m of DRIFT_METRICS) {
    const key = `l${h.layer}h${h.head}_${m}`;
    if (!headKeys.includes(key)) headKeys.push(key);
  }
  const rows: (string | number | null)[][] = [['model', 'arch', 'pass', 'position', 'id', 'text', 'loss', 'ms', ...headKeys]];
  for (const r of readings) {
    const byKey = new Map<string, number[]>();
    for (const h of r.heads) for (const m of DRIFT_METRICS) byKey.set(`l${h.layer}h${h.head}_${m}`, h.values[m]);
    r.positions.forEach((p, i) => {
      rows.push([r.model, r.arch, r.pass, p, r.ids[i], r.texts[i], r.loss[i], r.ms[i], ...headKeys.map((k) => byKey.get(k)?.[i] ?? null)]);
    });
  }
  return csv(rows);
}

/** One row per memory sample of every reading, allocated bytes per tag, the kv-cache bytes in use, the total. */
export function memoryCsv(readings: ReadingSeries[]): string {
  const rows: (string | number)[][] = [['model', 'arch', 'pass', 'tokens', ...MEMORY_TAGS, 'kv-cache-in-use', 'total']];
  for (const r of readings) for (const m of r.memory) rows.push([r.model, r.arch, r.pass, m.tokens, ...MEMORY_TAGS.map((t) => m.bytes[t]), m.kvInUse, m.total]);
  return csv(rows);
}

/** Evenly spaced indices (first and last kept) so a chart draws at most `max` points per line. */
export function decimate(length: number, max: number): number[] {
  if (length <= max) return Array.from({ length }, (_, i) => i);
  const out: number[] = [];
  const step = (length - 1) / (max - 1);
  for (let k = 0; k < max; k++) out.push(Math.round(k * step));
  return out;
}
