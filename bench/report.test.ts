import { describe, expect, it } from 'vitest';
import {
  baselineRows, bufferTag, decodeBytes, knownBandwidth, renderBaselineSection, renderReport, spread, spreadsOverlap, formatBytes, formatNumber, kvCacheBytes, kvCheck,
  markdownTable, median, msPerToken, summarizeKernels, summarizeSpeed, type BaselineComparison, type ReportInput,
} from './report';
import type { ContextPoint, KernelResult, KernelTiming, ModelFacts, SpeedRun } from './types';

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

describe('the section against a baseline commit', () => {
  const facts = (id: string): ModelFacts => ({ id, arch: 'ttt', mixers: ['ttt', 'swa', 'ttt'], params: 181_544, dModel: 64, nLayers: 3, vocabSize: 4096, window: 64, maxContext: 512, fileBytes: 92_894 });
  const run = (decode: number, longPrefill: number, reading: number, views: number): SpeedRun => ({
    promptTokens: 101, generatedTokens: 16, prefillTokensPerSecond: 1000, decodeTokensPerSecond: decode,
    longPromptTokens: 320, longPrefillTokensPerSecond: longPrefill, readTokensPerSecond: reading, readViewsTokensPerSecond: views,
  });
  const comparison: BaselineComparison = {
    ref: 'a0acb9a', commit: 'a0acb9a2d9f6b6297d11a53550524d2d8bd35733', date: '2026-12-02T15:32:32+00:00', subject: 'ARCHITECTURE: a figure',
    note: 'the commit issue 19 was filed at', currentCommit: 'c69133a0000000000000000000000000000000000', currentDirty: false,
    repetitions: 2, order: ['baseline', 'now', 'now', 'baseline'], baselineAdapter: 'google / swiftshader',
    models: [{
      baseline: { model: facts('tiny-ttt'), runs: [run(100, 1000, 500, 100), run(120, 1200, 700, 140)] },
      current: { model: facts('tiny-ttt'), runs: [run(110, 2000, 1500, 900), run(130, 2400, 1700, 1100)] },
    }],
  };
  const input = (baseline?: BaselineComparison): ReportInput => ({
    date: '2026-12-07T08:00:00.000Z', command: 'npm run bench -- --quick --baseline a0acb9a',
    machine: { cpu: 'cpu', cores: 2, memoryBytes: 2 ** 30, os: 'Linux', node: 'v20', chromium: '156', loadAverageStart: [1, 1, 1], loadAverageEnd: [1, 1, 1] },
    pairs: [], prompt: 'p', decodeTokens: 16, repetitions: 2, contextDecodeTokens: 16, wallSeconds: 1, rawPath: 'bench/results/quick.json',
    page: {
      adapter: 'google / swiftshader', userAgent: 'ua', speed: [comparison.models[0]!.current], context: [], sampling: [], decodeCost: [],
      kernels: { kernels: 'k', timings: [] }, defaultSampling: {}, pageSeconds: 1,
    },
    ...(baseline ? { baseline } : {}),
  });

  it('gives medians, now ÷ baseline and whether the runs\' ranges overlap', () => {
    const [row] = baselineRows(comparison);
    expect(row!.baseline.decode).toBe(110);
    expect(row!.current.decode).toBe(120);
    expect(row!.ratios[0]).toBeCloseTo(120 / 110, 12);
    expect(row!.ratios[1]).toBeCloseTo(2200 / 1100, 12);
    expect(row!.ratios[3]).toBeCloseTo(1000 / 120, 12);
    expect(row!.overlap).toEqual([true, false, false, false]);
  });

  it('renders the commit, its date, the method and the table before table 1', () => {
    const md = renderReport(input(comparison));
    expect(md).toContain('## Against a0acb9a (the commit issue 19 was filed at), same run, interleaved');
    expect(md).toContain('commit a0acb9a2d9f6b6297d11a53550524d2d8bd35733 of 2026-12-02T15:32:32+00:00');
    expect(md).toContain('in the order a0acb9a, now, now, a0acb9a');
    expect(md.indexOf('## Against a0acb9a')).toBeLessThan(md.indexOf('## 1. Decode'));
    expect(md.indexOf('## Method')).toBeLessThan(md.indexOf('## Against a0acb9a'));
    expect(md).toContain('| tiny-ttt | a0acb9a | 110.00 | 1,100.0 | 600.0 | 120.0 | 10.0× | 5.5× | 1.1× |');
    expect(md).toContain('| tiny-ttt | now (c69133a) | 120.00 | 2,200.0 | 1,600.0 | 1,000.0 | 18.3× | 13.3× | 8.3× |');
    expect(md).toContain('| tiny-ttt | now ÷ a0acb9a | **1.09×** (ranges overlap) | **2.00×** | **2.67×** | **8.33×** | 1.83× | 2.44× | 7.64× |');
    expect(md).toContain('| tiny-ttt | a0acb9a | 100.00, 120.00 | 1,000.0, 1,200.0 | 500.0, 700.0 | 100.0, 140.0 |');
    expect(md).not.toContain('The adapters differ');
    expect(md).not.toContain('model files differ');
  });

  it('says when the adapters or the model files differ, and when now has uncommitted changes', () => {
    const other: BaselineComparison = {
      ...comparison, currentDirty: true, note: undefined, baselineAdapter: 'other adapter',
      models: [{ ...comparison.models[0]!, baseline: { ...comparison.models[0]!.baseline, model: { ...facts('tiny-ttt'), fileBytes: 1 } } }],
    };
    const md = renderBaselineSection(other, 'google / swiftshader');
    expect(md).toContain('## Against a0acb9a, same run, interleaved');
    expect(md).toContain('now (c69133a + uncommitted changes)');
    expect(md).toContain('**The adapters differ**');
    expect(md).toContain('**The model files differ between the two trees** (tiny-ttt)');
  });

  it('is absent without --baseline; the method text still names the option', () => {
    const md = renderReport(input());
    expect(md).not.toContain('## Against');
    expect(md).toContain('`npm run bench -- --baseline REF`');
    expect(md).toContain('Raw data: `bench/results/quick.json`');
  });
});
