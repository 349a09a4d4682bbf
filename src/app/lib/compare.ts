// The comparison of the two memories on one text ("See inside" → "Where each memory helps"): per-token losses of the
// TTT model, the KV baseline and the TTT model with its memory off, their differences, loss by position against the
// training context, and the sentences that describe them. Every number here is computed from the readings the engine
// returned; the sentences say what was measured, with its sign, and say so plainly when an effect is absent.
import { END_OF_TEXT } from '../../engine/tokenizer/tokenizer';
import type { ReadingSeries } from './series';

const LN2 = Math.LN2;
const utf8 = new TextEncoder();

/** UTF-8 bytes a token's text covers; the end-of-text token counts 1 byte, as bits per byte counts it in training. */
export function tokenBytes(text: string): number {
  return text === END_OF_TEXT ? 1 : utf8.encode(text).length;
}

/**
 * Bits per byte of a reading: the summed loss (nats) over the tokens that have one, / ln 2, over the bytes those
 * tokens cover. A character split over tokens is counted at the token that completes it. null without losses.
 */
export function bitsPerByte(r: Pick<ReadingSeries, 'loss' | 'texts'>): number | null {
  let nats = 0;
  let bytes = 0;
  r.loss.forEach((l, i) => {
    if (l === null || !Number.isFinite(l)) return;
    nats += l;
    bytes += tokenBytes(r.texts[i] ?? '');
  });
  return bytes > 0 ? nats / LN2 / bytes : null;
}

/** The whole stream a model read with one memory setting: its readings in order (pass 1, 2, …), positions continuing. */
export function streamOf(readings: ReadingSeries[], arch: 'ttt' | 'kv', memoryOff: boolean): ReadingSeries[] {
  return readings.filter((r) => r.arch === arch && !!r.memoryOff === memoryOff).sort((a, b) => a.pass - b.pass);
}

export interface Bucket {
  start: number;
  end: number;
  /** Mean loss (nats/token) over the tokens of [start, end) that have one; null if none. */
  mean: number | null;
  count: number;
}

/** Mean loss per bucket of `size` positions, over every reading given (positions are the stream's). */
export function lossByPosition(readings: ReadingSeries[], size: number): Bucket[] {
  const sums = new Map<number, { sum: number; n: number }>();
  let last = -1;
  for (const r of readings) {
    r.positions.forEach((p, i) => {
      last = Math.max(last, p);
      const l = r.loss[i];
      if (l === null || !Number.isFinite(l)) return;
      const b = Math.floor(p / size);
      const s = sums.get(b) ?? { sum: 0, n: 0 };
      s.sum += l;
      s.n++;
      sums.set(b, s);
    });
  }
  const out: Bucket[] = [];
  for (let b = 0; b * size <= last; b++) {
    const s = sums.get(b);
    out.push({ start: b * size, end: Math.min((b + 1) * size, last + 1), mean: s ? s.sum / s.n : null, count: s?.n ?? 0 });
  }
  return out;
}

/** A bucket size for a stream of `tokens`: a power of two, at least 8, giving about 16 buckets. */
export function bucketSize(tokens: number): number {
  return Math.max(8, 2 ** Math.round(Math.log2(Math.max(1, tokens / 16))));
}

/** Mean loss over positions [from, to) of a stream; null when no token there has a loss. */
export function meanBetween(readings: ReadingSeries[], from: number, to: number): { mean: number | null; count: number } {
  let sum = 0;
  let n = 0;
  for (const r of readings) {
    r.positions.forEach((p, i) => {
      const l = r.loss[i];
      if (p < from || p >= to || l === null || !Number.isFinite(l)) return;
      sum += l;
      n++;
    });
  }
  return { mean: n > 0 ? sum / n : null, count: n };
}

/** One position both streams read the same token at, and a − b of their losses there. */
export interface TokenDiff {
  position: number;
  text: string;
  a: number;
  b: number;
  diff: number;
}

/**
 * Per position a − b of two readings of the same text (the first reading of each), where both have a loss for the
 * same token id. Readings by models with different tokenizers share no positions: the result is then empty.
 */
export function tokenDiffs(a: ReadingSeries | undefined, b: ReadingSeries | undefined): TokenDiff[] {
  if (!a || !b) return [];
  const out: TokenDiff[] = [];
  const n = Math.min(a.positions.length, b.positions.length);
  for (let i = 0; i < n; i++) {
    const la = a.loss[i];
    const lb = b.loss[i];
    if (a.ids[i] !== b.ids[i] || a.positions[i] !== b.positions[i]) return out;
    if (la === null || lb === null || !Number.isFinite(la) || !Number.isFinite(lb)) continue;
    out.push({ position: a.positions[i], text: a.texts[i] ?? '', a: la, b: lb, diff: la - lb });
  }
  return out;
}

export interface DiffSummary {
  tokens: number;
  /** Share of the tokens where a's loss is lower than b's. */
  aLower: number;
  meanDiff: number;
  /**
   * Standard error of meanDiff taking the tokens as independent (sd / √n); neighbouring tokens are correlated, so the
   * true uncertainty is larger: a difference inside 2 × this is not told apart from noise.
   */
  standardError: number;
  /** The positions where a is lowest against b (most negative diff) and highest, up to `top` each. */
  aBest: TokenDiff[];
  bBest: TokenDiff[];
}

export function summarizeDiffs(diffs: TokenDiff[], top = 5): DiffSummary | null {
  if (diffs.length === 0) return null;
  let lower = 0;
  let sum = 0;
  for (const d of diffs) {
    if (d.diff < 0) lower++;
    sum += d.diff;
  }
  const n = diffs.length;
  const mean = sum / n;
  let squares = 0;
  for (const d of diffs) squares += (d.diff - mean) ** 2;
  const sorted = [...diffs].sort((x, y) => x.diff - y.diff);
  return {
    tokens: n,
    aLower: lower / n,
    meanDiff: mean,
    standardError: n > 1 ? Math.sqrt(squares / (n - 1) / n) : Infinity,
    aBest: sorted.slice(0, top).filter((d) => d.diff < 0),
    bBest: sorted.slice(-top).reverse().filter((d) => d.diff > 0),
  };
}

/** A token's text as it can be quoted in a sentence (whitespace shown, the end-of-text marker named). */
export function quoteToken(text: string): string {
  if (text === END_OF_TEXT) return 'end of text';
  const shown = text.replace(/\n/g, '↵').trim();
  return shown === '' ? '␠' : `“${shown}”`;
}

const pct = (v: number) => `${(100 * Math.abs(v)).toFixed(1)} %`;
const nats = (v: number) => `${v.toFixed(3)}`;

/**
 * The sentence on the second reading of each model (drop = 1 − second / first, as `npm run eval -- --read-twice`):
 * which models read the text the second time cheaper, with the measured sign, and none when none did.
 */
export function secondReadingSentence(rows: { model: string; memory: 'on' | 'off'; drop: number | null }[]): string | null {
  const measured = rows.filter((r) => r.drop !== null) as { model: string; memory: 'on' | 'off'; drop: number }[];
  if (measured.length === 0) return null;
  const name = (r: { model: string; memory: 'on' | 'off' }) => `${r.model}${r.memory === 'off' ? ' (memory off)' : ''}`;
  const part = (r: { drop: number } & { model: string; memory: 'on' | 'off' }) => `${name(r)} ${pct(r.drop)} ${r.drop > 0 ? 'cheaper' : r.drop < 0 ? 'dearer' : 'the same'}`;
  const cheaper = measured.filter((r) => r.drop > 0);
  if (cheaper.length === 0) {
    return `On this text no model read the second time cheaper (${measured.map(part).join('; ')}): none of them used the first reading to predict the second.`;
  }
  if (cheaper.length === measured.length) {
    return `Every model read the second time cheaper (${measured.map(part).join('; ')}): each used what it had read.`;
  }
  return `The second reading was ${measured.map(part).join('; ')}: only ${cheaper.map(name).join(' and ')} used the first reading to predict the second.`;
}

/**
 * What the TTT memory is worth on the text: mean loss with the memory off against on (first reading). With `se`, the
 * standard error of the per-token on − off differences, a gap inside 2 × se is said to be indistinguishable from noise.
 */
export function memorySentence(off: number | null, on: number | null, se: number | null = null): string | null {
  if (off === null || on === null) return null;
  const rel = off / on - 1;
  const within = se !== null && Number.isFinite(se) && Math.abs(off - on) < 2 * se;
  const gap = `On the first reading, with its memory off the TTT model's loss is ${pct(rel)} ${rel > 0 ? 'higher' : 'lower'} (${nats(off)} against ${nats(on)} nats/token)`;
  if (rel !== 0 && within) {
    return `${gap}, inside twice the standard error of the per-token differences (±${(2 * se!).toFixed(3)} nats/token, tokens taken as independent): on this text the memory's effect cannot be told apart from noise.`;
  }
  if (rel > 0) return `${gap}: the memory helps on this text by that much.`;
  if (rel < 0) return `${gap}: on this text the memory does not help; it costs.`;
  return `On the first reading the TTT model's loss is the same with its memory off (${nats(on)} nats/token): the memory's effect is absent on this text.`;
}

/** Loss inside and beyond the training context, per stream; says so when the text never leaves the context. */
export function contextSentence(context: number, streams: { name: string; readings: ReadingSeries[] }[]): string | null {
  const lengths = streams.map((s) => s.readings.reduce((m, r) => Math.max(m, (r.positions.at(-1) ?? -1) + 1), 0));
  const longest = Math.max(0, ...lengths);
  if (longest === 0) return null;
  if (longest <= context) return `The stream (${longest} tokens) stays inside the training context of ${context} tokens: nothing here says how the models read beyond it.`;
  const parts = streams.flatMap((s) => {
    const inside = meanBetween(s.readings, 0, context).mean;
    const beyond = meanBetween(s.readings, context, Infinity).mean;
    if (inside === null || beyond === null) return [];
    const rel = beyond / inside - 1;
    return [`${s.name} ${nats(inside)} → ${nats(beyond)} (${rel >= 0 ? '+' : '−'}${pct(rel)})`];
  });
  if (parts.length === 0) return null;
  return `Mean loss inside the training context of ${context} tokens → beyond it, nats/token: ${parts.join('; ')}. Training windows were ${context} tokens long (the models' contextLength), so no position past it was seen in training.`;
}

/** TTT − KV over the tokens both read: on what share TTT is lower, and the mean difference. */
export function versusSentence(s: DiffSummary | null, a: string, b: string): string | null {
  if (!s) return null;
  const mean = s.meanDiff;
  return `Over the ${s.tokens} tokens both read, ${a}'s loss is lower than ${b}'s on ${(100 * s.aLower).toFixed(0)} % of them; ` +
    `${a} − ${b} is ${mean < 0 ? '−' : '+'}${Math.abs(mean).toFixed(3)} nats/token on average (${mean < 0 ? `${a} lower` : mean > 0 ? `${b} lower` : 'no difference'}).`;
}
