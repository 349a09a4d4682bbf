import { describe, expect, it } from 'vitest';
import { bufferTag, decodeBytes, knownBandwidth, spread, spreadsOverlap, formatBytes, formatNumber, kvCacheBytes, kvCheck, markdownTable, median, msPerToken, summarizeKernels, summarizeSpeed } from './report';
import type { ContextPoint, KernelResult, KernelTiming, ModelFacts } from './types';

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones, without sorting the input in place', () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });
  it('refuses no values and non-finite ones', () => {
    expect(() => median([])).toThrow(RangeError);
    expect(() => median([1, Number.NaN])).toThrow(/non-finite/);
  });
});

describe('markdownTable', () => {
  it('writes the header, the alignment rule and escaped cells', () => {
    expect(markdownTable(['a', 'b'], [['x|y', '2']], ['left', 'right'])).toBe('| a | b |\n| --- | ---: |\n| x\\|y | 2 |');
  });
  it('refuses a row of the wrong width', () => {
    expect(() => markdownTable(['a', 'b'], [['1']])).toThrow(/row 0 has 1 cells/);
  });
});

describe('formatting', () => {
  it('formats numbers, bytes and ms per token', () => {
    expect(formatNumber(1234.567, 1)).toBe('1,234.6');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KiB (2,048)');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.00 MiB (3,145,728)');
    expect(msPerToken(50)).toBe(20);
    expect(msPerToken(0)).toBeNaN();
  });
});

describe('kvCheck', () => {
  const facts = (mixers: string[]): ModelFacts => ({ id: 'm', arch: 'kv', mixers, params: 1, dModel: 256, nLayers: mixers.length, vocabSize: 4096, window: 64, maxContext: 4096, fileBytes: 1 });
  const point = (position: number, allocated: number, inUse = allocated): ContextPoint => ({
    target: position, position, feedTokensPerSecond: 1, decodeTokens: 1, decodeTokensPerSecond: 1,
    memory: { bytes: { weights: 0, 'ttt-state': 0, 'kv-cache': allocated, activations: 0, scratch: 0 }, total: allocated, buffers: 1, position, kvCache: { allocated, inUse } },
  });
  it('predicts 2 × layers × T × d × 4 in use for attention, allocated doubled from 8 slots', () => {
    expect(kvCacheBytes(6, 1024, 256)).toBe(12_582_912);
    const ok = kvCheck(facts(Array(6).fill('attn')), point(1024, 12_582_912));
    expect(ok).toMatchObject({ equal: true, allocatedEqual: true, formula: '2 × 6 × 1024 × 256 × 4' });
    expect(kvCheck(facts(['attn']), point(9, kvCacheBytes(1, 16, 256), kvCacheBytes(1, 9, 256)))).toMatchObject({ equal: true, allocatedEqual: true });
    expect(kvCheck(facts(['attn']), point(48, kvCacheBytes(1, 48, 256)))).toMatchObject({ equal: true, allocatedEqual: false }); // 64 slots expected
    expect(kvCheck(facts(['attn']), point(9, kvCacheBytes(1, 16, 256))).equal).toBe(false);
  });
  it('counts sliding-window layers as a fixed ring of window slots (in use once full) and TTT layers as none', () => {
    const hybrid = facts(['ttt', 'ttt', 'swa', 'ttt', 'ttt', 'swa']);
    expect(kvCheck(hybrid, point(2048, kvCacheBytes(2, 64, 256)))).toMatchObject({ equal: true, allocatedEqual: true });
    expect(kvCheck(hybrid, point(10, kvCacheBytes(2, 64, 256), kvCacheBytes(2, 10, 256)))).toMatchObject({ equal: true, allocatedEqual: true });
    expect(kvCheck(facts(['ttt']), point(100, 0))).toMatchObject({ expected: 0, equal: true, formula: 'none (no attention layer)' });
  });
});

describe('spread', () => {
  it('gives min and max, and overlapping ranges mean no distinguishable difference', () => {
    expect(spread([3, 1, 2])).toEqual({ min: 1, max: 3 });
    expect(() => spread([])).toThrow(RangeError);
    expect(spreadsOverlap({ min: 1, max: 3 }, { min: 3, max: 4 })).toBe(true);
    expect(spreadsOverlap({ min: 1, max: 2 }, { min: 2.5, max: 4 })).toBe(false);
  });
});

describe('decodeBytes', () => {
  it('sums the bound buffers of every dispatch by memory tag; unknown labels count as other', () => {
    expect(bufferTag('weights:l0.ttt.in.packed')).toBe('weights');
    expect(bufferTag('kv-cache:l2.attn.kv')).toBe('kv-cache');
    expect(bufferTag('token id')).toBe('other');
    expect(bufferTag('lunch:x')).toBe('other');
    const cost = {
      model: 'm', position: 8, dispatchesPerToken: 2,
      dispatches: [
        { label: 'embed', buffers: [{ label: 'weights:tok_embed', size: 256 }, { label: 'token id', size: 4 }] },
        { label: 'l0.ttt.in', buffers: [{ label: 'weights:l0.ttt.in.packed', size: 65536 }, { label: 'weights:l0.ttt.in.row_scales', size: 4096 }, { label: 'activations:xq', size: 1024 }, { label: 'activations:xq', size: 1024 }] },
      ],
    };
    expect(decodeBytes(cost)).toEqual({ total: 256 + 4 + 65536 + 4096 + 2048, byTag: { weights: 256 + 65536 + 4096, other: 4, activations: 2048 } });
  });
});

describe('summarizeKernels', () => {
  const timing = (name: string, variant: string, microseconds: number[]): KernelTiming => ({
    shape: { name, rows: 1000, cols: 4000 }, variant, engine: variant !== 'legacy', reps: 10, microseconds, timer: 'timestamp-query',
  });
  const result: KernelResult = { kernels: 'k', timings: [timing('a', 'legacy', [400, 500, 450]), timing('a', 'matvec x', [100, 90, 110]), timing('b', 'matvec x', [50])] };
  it('gives the median µs, the 2-bit payload in GB/s and the speed-up over legacy at the same shape', () => {
    const [legacy, fast, noLegacy] = summarizeKernels(result, 'google / swiftshader');
    expect(legacy.microseconds).toBe(450);
    expect(legacy.speedUp).toBe(1);
    expect(fast.microseconds).toBe(100);
    expect(fast.gbPerSecond).toBeCloseTo((1000 * 4000) / 4 / 100e-6 / 1e9, 9); // 1e6 bytes in 100 µs = 10 GB/s
    expect(fast.speedUp).toBeCloseTo(4.5, 12);
    expect(noLegacy.speedUp).toBeNull();
    expect(fast.fractionOfBandwidth).toBeNull();
  });
  it('gives a fraction of bandwidth only for adapters with a published one', () => {
    expect(knownBandwidth('google / swiftshader')).toBeNull();
    expect(knownBandwidth('nvidia / hopper / NVIDIA H200')?.bytesPerSecond).toBe(4.8e12);
    const [, fast] = summarizeKernels(result, 'NVIDIA H200');
    expect(fast.fractionOfBandwidth).toBeCloseTo(10e9 / 4.8e12, 12);
  });
});

describe('summarizeSpeed', () => {
  it('takes medians of decode, long prefill and reading over the runs', () => {
    const model = { id: 'm', arch: 'ttt', mixers: ['ttt'], params: 1, dModel: 8, nLayers: 1, vocabSize: 16, window: 4, maxContext: 64, fileBytes: 1 } as ModelFacts;
    const run = (decode: number, longPrefill: number, reading: number) => ({
      promptTokens: 25, generatedTokens: 32, prefillTokensPerSecond: 20, decodeTokensPerSecond: decode,
      longPromptTokens: 300, longPrefillTokensPerSecond: longPrefill, readTokensPerSecond: reading, readViewsTokensPerSecond: reading / 2,
    });
    const s = summarizeSpeed({ model, runs: [run(10, 50, 40), run(12, 70, 30), run(11, 60, 35)] });
    expect(s.decode).toBe(11);
    expect(s.longPrefill).toBe(60);
    expect(s.reading).toBe(35);
    expect(s.readingViews).toBe(17.5);
    expect(s.longPromptTokens).toBe(300);
  });
});
