import { describe, expect, it } from 'vitest';
import type { TokenizerSpec } from '../types';
import { encodeCorpus, coveredBytes } from './corpus';
import { splitIntoChunks } from './pretokenize';
import { END_OF_TEXT, Tokenizer, TokenizerError } from './tokenizer';
import { ChunkCounter, trainBpe } from './train';

const bytesOf = (text: string) => [...new TextEncoder().encode(text)];

/** A tokenizer trained on a small English + Japanese text, so that merges exist in both scripts. */
function smallTrainedTokenizer(): Tokenizer {
  const counter = new ChunkCounter();
  counter.add(SAMPLE_TEXT.repeat(3));
  return Tokenizer.fromSpec(trainBpe(counter.counts, { vocabSize: 400 }).spec);
}

const SAMPLE_TEXT = [
  'Once upon a time, there was a little girl named Lily. She loved to play with her toys.',
  'One day, Lily saw a big red ball. "Can I play?" she asked. Her mom said, "Yes, you can!"',
  'むかしむかし、あるところにおじいさんとおばあさんがいました。',
  '🙂 The cat said: 123 4567 — isn\'t it fun? They\'re happy.   Spaces   and\ttabs\n\nnew lines.',
].join('\n');

describe('pretokenize', () => {
  it('attaches one leading space to the following word and keeps all text', () => {
    const text = 'Hello  world, it\'s 42!\n\n  ok';
    const chunks = splitIntoChunks(text);
    expect(chunks.join('')).toBe(text);
    expect(chunks).toContain(' world');
    expect(chunks).toContain("'s");
    expect(chunks).toContain(' 42');
  });
});

describe('Tokenizer', () => {
  const tokenizer = smallTrainedTokenizer();

  it.each([
    ['ASCII', SAMPLE_TEXT],
    ['Japanese', '日本語のテキスト、カタカナとひらがな。'],
    ['emoji', '👩‍👩‍👧 family 🇯🇵 flag 🙂🙃'],
    ['empty', ''],
    ['only specials', `${END_OF_TEXT}${END_OF_TEXT}`],
    ['leading BOM', '\uFEFFbom at the start'],
    ['control characters', '\u0000\u0001\r\n\t'],
  ])('round-trips %s', (_name, text) => {
    const ids = tokenizer.encode(text);
    expect(tokenizer.decode(ids)).toBe(text);
    for (const id of ids) expect(id).toBeLessThan(tokenizer.vocabSize);
  });

  it('maps special strings to their id and uses fewer tokens than bytes on trained text', () => {
    const ids = tokenizer.encode(`Lily${END_OF_TEXT}Lily`);
    expect(ids.filter((id) => id === tokenizer.eotId)).toHaveLength(1);
    expect(tokenizer.eotId).toBe(tokenizer.vocabSize - 1);
    expect(tokenizer.encode(SAMPLE_TEXT).length).toBeLessThan(bytesOf(SAMPLE_TEXT).length / 2);
  });

  it('replaces lone surrogates as TextEncoder does', () => {
    const broken = 'a\uD800b';
    expect(tokenizer.decode(tokenizer.encode(broken))).toBe('a\uFFFDb');
  });

  it('applies merges by rank, not left to right', () => {
    // merge 0: (b, c) → 256; merge 1: (a, b) → 257. "abc" must become [a, 256]: (b,c) has the lower rank
    // although (a,b) comes first in the text.
    const [a, b, c] = bytesOf('abc') as [number, number, number];
    const spec: TokenizerSpec = { type: 'bpe', merges: [[b, c], [a, b]], specials: { [END_OF_TEXT]: 258 } };
    const ranked = Tokenizer.fromSpec(spec);
    expect(ranked.encode('abc')).toEqual([a, 256]);
    expect(ranked.encode('abd')).toEqual([257, bytesOf('d')[0]]);
    // Merges apply to every occurrence and never across chunks (' ' starts a new chunk before a letter).
    expect(ranked.encode('bcbc')).toEqual([256, 256]);
    expect(ranked.encode('a bc')).toEqual([a, bytesOf(' ')[0], 256]);
  });

  it('streams multi-byte characters split across tokens', () => {
    const byteLevel = Tokenizer.fromSpec({ type: 'bpe', merges: [], specials: { [END_OF_TEXT]: 256 } });
    const text = 'aé日🙂';
    const ids = byteLevel.encode(text);
    expect(ids).toHaveLength(bytesOf(text).length);
    const decoder = byteLevel.createDecoder();
    const pieces = ids.map((id) => decoder.push(id));
    // Each push yields only whole characters: '' until the last byte of a character arrives.
    expect(pieces).toEqual(['a', '', 'é', '', '', '日', '', '', '', '🙂']);
    expect(decoder.flush()).toBe('');
    const truncated = byteLevel.createDecoder();
    // The first byte of 🙂 alone: nothing to show yet, and a replacement character when the stream ends.
    expect(truncated.push(ids[ids.length - 4]!)).toBe('');
    expect(truncated.flush()).toBe('\uFFFD');
  });

  it('rejects malformed specs and ids with typed errors', () => {
    const bad = (spec: unknown) => () => Tokenizer.fromSpec(spec as TokenizerSpec);
    expect(bad({ type: 'wordpiece', merges: [], specials: { [END_OF_TEXT]: 256 } })).toThrow(TokenizerError);
    expect(bad({ type: 'bpe', merges: [[300, 1]], specials: { [END_OF_TEXT]: 257 } })).toThrow(/merge 0/);
    expect(bad({ type: 'bpe', merges: [], specials: { [END_OF_TEXT]: 300 } })).toThrow(/special ids/);
    expect(bad({ type: 'bpe', merges: [], specials: {} })).toThrow(/endoftext/);
    expect(() => tokenizer.decode([tokenizer.vocabSize])).toThrow(/BAD_TOKEN_ID/);
  });
});

describe('trainBpe', () => {
  it('is deterministic and agrees with the encoder on the training text', () => {
    const counts = () => {
      const counter = new ChunkCounter();
      counter.add(SAMPLE_TEXT);
      return counter.counts;
    };
    const first = trainBpe(counts(), { vocabSize: 300 });
    // Same counts inserted in another order must give the same merges (ties broken by pair ids).
    const reversed = new Map([...counts()].reverse());
    const second = trainBpe(reversed, { vocabSize: 300 });
    expect(second.spec).toEqual(first.spec);
    expect(first.spec.merges).toHaveLength(43);
    expect(first.spec.specials).toEqual({ [END_OF_TEXT]: 299 });
    const tokenizer = Tokenizer.fromSpec(first.spec);
    expect(tokenizer.encode(SAMPLE_TEXT)).toHaveLength(first.stats.tokens);
  });

  it('learns the most frequent pair first (ties to the smaller ids)', () => {
    const counter = new ChunkCounter();
    counter.add(SAMPLE_TEXT);
    const pairCounts = new Map<string, number>();
    for (const [chunk, count] of counter.counts) {
      const bytes = bytesOf(chunk);
      for (let i = 0; i + 1 < bytes.length; i++) {
        const key = `${bytes[i]},${bytes[i + 1]}`;
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    const best = [...pairCounts].sort((x, y) => {
      if (x[1] !== y[1]) return y[1] - x[1];
      const [xl, xr] = x[0].split(',').map(Number) as [number, number];
      const [yl, yr] = y[0].split(',').map(Number) as [number, number];
      return xl !== yl ? xl - yl : xr - yr;
    })[0]![0];
    expect(trainBpe(counter.counts, { vocabSize: 260 }).spec.merges[0]!.join(',')).toBe(best);
  });

  it('stops early when no pair is left and rejects impossible sizes', () => {
    const counter = new ChunkCounter();
    counter.add('ab ab ab');
    const { spec, stats } = trainBpe(counter.counts, { vocabSize: 1000 });
    expect(stats.mergesLearned).toBe(2); // (a,b), then (' ', ab)
    expect(Tokenizer.fromSpec(spec).encode('ab ab')).toEqual([256, 257]);
    expect(() => trainBpe(counter.counts, { vocabSize: 100 })).toThrow(TokenizerError);
  });
});

describe('encode speed', () => {
  it('encodes ~1 MB through the chunk cache (time is logged, not asserted)', () => {
    const tokenizer = smallTrainedTokenizer();
    const text = Array.from({ length: 4000 }, (_, i) => `${SAMPLE_TEXT} story ${i}`).join('\n');
    const started = performance.now();
    const ids = tokenizer.encode(text);
    const seconds = (performance.now() - started) / 1000;
    console.log(`encoded ${(text.length / 1e6).toFixed(2)} M chars into ${ids.length} tokens in ${seconds.toFixed(2)} s`);
    expect(tokenizer.decode(ids)).toBe(text);
  });
});

describe('corpus', () => {
  it('turns separator lines into the eot token and counts one byte per eot', () => {
    const tokenizer = smallTrainedTokenizer();
    const text = `Lily played.\nShe was happy.\n${END_OF_TEXT}\nTom ran.\n${END_OF_TEXT}\n`;
    const { ids, bytes, stories } = encodeCorpus(tokenizer, text);
    expect(stories).toBe(2);
    expect(tokenizer.decode(ids)).toBe(`Lily played.\nShe was happy.${END_OF_TEXT}Tom ran.${END_OF_TEXT}`);
    expect(bytes).toBe(bytesOf('Lily played.\nShe was happy.').length + 1 + bytesOf('Tom ran.').length + 1);
    expect(ids.reduce((sum, id) => sum + coveredBytes(tokenizer, id), 0)).toBe(bytes);
    // A last story without a separator still ends with eot.
    expect(encodeCorpus(tokenizer, 'no separator').ids.at(-1)).toBe(tokenizer.eotId);
  });
});
