// BPE training (the standard algorithm): count the chunks of the text once, then repeatedly merge the most
// frequent adjacent pair, updating pair counts only for the chunks that contain it. Ties go to the pair with
// the smaller (left, right) ids, so the result depends only on the text and the vocabulary size.
import type { TokenizerSpec } from '../types';
import { forEachChunk } from './pretokenize';
import { END_OF_TEXT, MAX_VOCAB_SIZE, pairKey, TokenizerError } from './tokenizer';

/** Counts chunk frequencies over any number of texts; special strings are cut out and never merged into. */
export class ChunkCounter {
  readonly counts = new Map<string, number>();
  totalChunks = 0;

  constructor(private readonly specials: readonly string[] = [END_OF_TEXT]) {}

  add(text: string): void {
    let pieces = [text];
    for (const special of this.specials) pieces = pieces.flatMap((piece) => piece.split(special));
    for (const piece of pieces) {
      forEachChunk(piece, (chunk) => {
        this.counts.set(chunk, (this.counts.get(chunk) ?? 0) + 1);
        this.totalChunks++;
      });
    }
  }
}

export interface TrainOptions {
  /** Total ids: 256 bytes + merges + specials. */
  vocabSize: number;
  specials?: readonly string[];
  /** Called every `progressEvery` merges. */
  onProgress?: (mergesDone: number, mergesWanted: number) => void;
  progressEvery?: number;
}

export interface TrainStats {
  mergesWanted: number;
  mergesLearned: number;
  uniqueChunks: number;
  totalChunks: number;
  /** Tokens the counted text becomes under the learned merges (specials not included). */
  tokens: number;
  /** Frequency of the last merge learned (0 when none). */
  lastMergeCount: number;
  seconds: number;
}

/** Max-heap of (count, pair) with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } | undefined {
    if (this.keys.length === 0) return undefined;
    const top = { count: this.counts[0]!, key: this.keys[0]! };
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.keys.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < this.keys.length && this.above(left, best)) best = left;
        if (right < this.keys.length && this.above(right, best)) best = right;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }

  /** Higher count first; on a tie the smaller pair key (left id, then right id). */
  private above(a: number, b: number): boolean {
    const countA = this.counts[a]!;
    const countB = this.counts[b]!;
    return countA !== countB ? countA > countB : this.keys[a]! < this.keys[b]!;
  }

  private swap(a: number, b: number): void {
    [this.counts[a], this.counts[b]] = [this.counts[b]!, this.counts[a]!];
    [this.keys[a], this.keys[b]] = [this.keys[b]!, this.keys[a]!];
  }
}

export function trainBpe(
  chunkCounts: ReadonlyMap<string, number>,
  options: TrainOptions,
): { spec: TokenizerSpec; stats: TrainStats } {
  const started = performance.now();
  const specials = options.specials ?? [END_OF_TEXT];
  if (!specials.includes(END_OF_TEXT)) throw new TokenizerError('BAD_SPEC', `specials must include ${END_OF_TEXT}`);
  const mergesWanted = options.vocabSize - 256 - specials.length;
  if (!Number.isInteger(options.vocabSize) || mergesWanted < 0 || options.vocabSize > MAX_VOCAB_SIZE) {
    throw new TokenizerError(
      'BAD_SPEC',
      `vocabulary size must be an integer from ${256 + specials.length} to ${MAX_VOCAB_SIZE}, got ${options.vocabSize}`,
    );
  }

  // Chunks in sorted order so that nothing depends on Map insertion order.
  const encoder = new TextEncoder();
  const chunks = [...chunkCounts.keys()].sort();
  const words: number[][] = chunks.map((chunk) => Array.from(encoder.encode(chunk)));
  const wordCounts = chunks.map((chunk) => chunkCounts.get(chunk)!);

  const pairCounts = new Map<number, number>();
  const wordsWithPair = new Map<number, Set<number>>();
  words.forEach((word, index) => {
    for (let i = 0; i + 1 < word.length; i++) {
      const key = pairKey(word[i]!, word[i + 1]!);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + wordCounts[index]!);
      let holders = wordsWithPair.get(key);
      if (holders === undefined) wordsWithPair.set(key, (holders = new Set()));
      holders.add(index);
    }
  });
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const merges: [number, number][] = [];
  let lastMergeCount = 0;
  const progressEvery = options.progressEvery ?? 256;
  while (merges.length < mergesWanted) {
    const top = heap.pop();
    if (top === undefined) break;
    if (pairCounts.get(top.key) !== top.count) continue; // stale entry
    if (top.count <= 0) break;
    const left = Math.floor(top.key / MAX_VOCAB_SIZE);
    const right = top.key % MAX_VOCAB_SIZE;
    const newId = 256 + merges.length;
    merges.push([left, right]);
    lastMergeCount = top.count;

    const deltas = new Map<number, number>();
    const addDelta = (key: number, delta: number) => deltas.set(key, (deltas.get(key) ?? 0) + delta);
    for (const index of wordsWithPair.get(top.key) ?? []) {
      const word = words[index]!;
      const count = wordCounts[index]!;
      const merged: number[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === left && word[i + 1] === right) {
          merged.push(newId);
          i++;
        } else merged.push(word[i]!);
      }
      if (merged.length === word.length) continue; // the set is never pruned, so the pair may be gone
      for (let i = 0; i + 1 < word.length; i++) addDelta(pairKey(word[i]!, word[i + 1]!), -count);
      for (let i = 0; i + 1 < merged.length; i++) {
        const key = pairKey(merged[i]!, merged[i + 1]!);
        addDelta(key, count);
        let holders = wordsWithPair.get(key);
        if (holders === undefined) wordsWithPair.set(key, (holders = new Set()));
        holders.add(index);
      }
      words[index] = merged;
    }
    wordsWithPair.delete(top.key);
    for (const [key, delta] of deltas) {
      if (delta === 0) continue;
      const count = (pairCounts.get(key) ?? 0) + delta;
      if (count > 0) {
        pairCounts.set(key, count);
        heap.push(count, key);
      } else pairCounts.delete(key);
    }
    if (options.onProgress !== undefined && merges.length % progressEvery === 0) {
      options.onProgress(merges.length, mergesWanted);
    }
  }

  const specialIds: Record<string, number> = {};
  specials.forEach((special, index) => (specialIds[special] = 256 + merges.length + index));
  return {
    spec: { type: 'bpe', merges, specials: specialIds },
    stats: {
      mergesWanted,
      mergesLearned: merges.length,
      uniqueChunks: chunks.length,
      totalChunks: [...chunkCounts.values()].reduce((sum, count) => sum + count, 0),
      tokens: words.reduce((sum, word, index) => sum + word.length * wordCounts[index]!, 0),
      lastMergeCount,
      seconds: (performance.now() - started) / 1000,
    },
  };
}
