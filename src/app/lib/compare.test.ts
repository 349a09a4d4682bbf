import { describe, expect, it } from 'vitest';
import { bitsPerByte, bucketSize, contextSentence, lossByPosition, memorySentence, quoteToken, secondReadingSentence, summarizeDiffs, tokenDiffs, versusSentence } from './compare';
import { emptyReading, type ReadingSeries } from './series';

function reading(arch: 'ttt' | 'kv', losses: (number | null)[], opts: { start?: number; texts?: string[]; ids?: number[]; pass?: number; memoryOff?: boolean } = {}): ReadingSeries {
  const r = emptyReading(`m-${arch}`, arch, opts.pass ?? 1);
  losses.forEach((l, i) => {
    r.positions.push((opts.start ?? 0) + i);
    r.ids.push(opts.ids?.[i] ?? i);
    r.texts.push(opts.texts?.[i] ?? 'a');
    r.loss.push(l);
    r.ms.push(1);
  });
  if (opts.memoryOff) r.memoryOff = true;
  return r;
}

describe('compare', () => {
  it('bits per byte: summed nats / ln 2 over the bytes of the tokens that have a loss; end of text is 1 byte', () => {
    const r = reading('ttt', [null, Math.LN2 * 4, Math.LN2 * 2], { texts: ['x', 'héllo', '<|endoftext|>'] });
    // 'héllo' is 6 UTF-8 bytes, the end of text 1: (4 + 2) bits over 7 bytes.
    expect(bitsPerByte(r)).toBeCloseTo(6 / 7, 12);
    expect(bitsPerByte(reading('kv', [null]))).toBeNull();
  });

  it('loss by position: bucket means over the stream, both readings; empty buckets are null', () => {
    const first = reading('ttt', [null, 1, 2, 3]);
    const second = reading('ttt', [5, 7], { start: 4, pass: 2 });
    const b = lossByPosition([first, second], 2);
    expect(b.map((x) => x.mean)).toEqual([1, 2.5, 6]);
    expect(b.map((x) => [x.start, x.end, x.count])).toEqual([[0, 2, 1], [2, 4, 2], [4, 6, 2]]);
    expect(bucketSize(900)).toBe(64);
    expect(bucketSize(40)).toBe(8);
  });

  it('token differences only where both read the same token at the same position', () => {
    const a = reading('ttt', [null, 1, 4, 2], { ids: [9, 1, 2, 3] });
    const b = reading('kv', [null, 3, 1, 2], { ids: [9, 1, 2, 3] });
    const d = tokenDiffs(a, b);
    expect(d.map((x) => x.diff)).toEqual([-2, 3, 0]);
    const s = summarizeDiffs(d)!;
    expect(s.aLower).toBeCloseTo(1 / 3, 12);
    expect(s.meanDiff).toBeCloseTo(1 / 3, 12);
    // diffs −2, 3, 0: sample variance 19/3, standard error √(19/9).
    expect(s.standardError).toBeCloseTo(Math.sqrt(19 / 9), 12);
    expect(s.aBest.map((x) => x.position)).toEqual([1]);
    expect(s.bBest.map((x) => x.position)).toEqual([2]);
    expect(versusSentence(s, 'TTT', 'KV')).toContain('on 33 % of them; TTT − KV is +0.333 nats/token on average (KV lower)');
    // Another tokenizer: the ids part at once, nothing is compared.
    expect(tokenDiffs(a, reading('kv', [null, 1, 1, 1], { ids: [9, 7, 2, 3] }))).toEqual([]);
  });

  it('sentences carry the measured sign, and say when an effect is absent', () => {
    expect(secondReadingSentence([{ model: 'a', memory: 'on', drop: -0.017 }, { model: 'b', memory: 'on', drop: -0.079 }]))
      .toBe('On this text no model read the second time cheaper (a 1.7 % dearer; b 7.9 % dearer): none of them used the first reading to predict the second.');
    expect(secondReadingSentence([{ model: 'a', memory: 'on', drop: 0.1 }, { model: 'b', memory: 'on', drop: -0.05 }])).toContain('only a used the first reading');
    expect(secondReadingSentence([{ model: 'a', memory: 'on', drop: 0.1 }])).toContain('Every model read the second time cheaper (a 10.0 % cheaper)');
    expect(secondReadingSentence([{ model: 'a', memory: 'on', drop: null }])).toBeNull();
    expect(memorySentence(3.1, 3.0)).toContain('3.3 % higher');
    expect(memorySentence(2.9, 3.0)).toContain('does not help');
    expect(memorySentence(3, 3)).toContain('absent');
    expect(memorySentence(3.1, 3.0, 0.06)).toContain('cannot be told apart from noise');
    expect(memorySentence(3.1, 3.0, 0.01)).not.toContain('noise');
    const r = reading('ttt', [null, 2, 2, 4, 4]);
    expect(contextSentence(3, [{ name: 'TTT', readings: [r] }])).toContain('TTT 2.000 → 4.000 (+100.0 %)');
    expect(contextSentence(8, [{ name: 'TTT', readings: [r] }])).toContain('stays inside the training context of 8 tokens');
    expect(quoteToken('<|endoftext|>')).toBe('end of text');
    expect(quoteToken(' Mia')).toBe('“Mia”');
  });
});
