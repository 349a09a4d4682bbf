// The computed projections of the memory view, against numbers worked out by hand (comments show the arithmetic).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readBtttHeader } from '../../engine/format';
import { GPU_CAPACITY_BYTES } from './series';
import { KNOWN_SHAPES, ShapeError, projectPair, projectShape, tttValuesPerLayer, type ModelShape } from './projection';

const GiB8 = 8 * 2 ** 30; // 8,589,934,592 B
const shape = (name: string) => KNOWN_SHAPES.find((s) => s.name.startsWith(name))!;
const config = (file: string) => readBtttHeader(new Uint8Array(readFileSync(`public/models/${file}`))).config;

describe('memory projections for known shapes', () => {
  it('uses the 8 GiB of the memory view', () => expect(GPU_CAPACITY_BYTES).toBe(GiB8));

  it('BitNet b1.58 2B shape: KV in f16 fills 8 GiB at 111,848 tokens; TTT state 81.1 MB', () => {
    const p = projectShape(shape('BitNet'), GiB8);
    expect(p.headDim).toBe(128); // 2560 / 20
    expect(p.kvBytesPerToken).toBe(76_800); // 2 · 30 layers · 5 KV heads · 128 · 2 B
    expect(p.kvFillTokens).toBe(111_848); // ⌊8,589,934,592 / 76,800⌋ = ⌊111,848.1⌋
    expect(p.tttValuesPerLayer).toBe(675_840); // 20 · (2·128² + 2·128) + 2·3·2560 = 660,480 + 15,360
    expect(p.tttStateBytes).toBe(81_100_800); // 30 · 675,840 · 4 B
    expect(p.kvTokensMatchingState).toBe(1056); // 81,100,800 / 76,800
  });

  it('Llama 3 8B shape: KV in f16 fills 8 GiB at 65,536 tokens; TTT state 138.4 MB', () => {
    const p = projectShape(shape('Llama'), GiB8);
    expect(p.kvBytesPerToken).toBe(131_072); // 2 · 32 · 8 · 128 · 2 B
    expect(p.kvFillTokens).toBe(65_536); // 2^33 / 2^17
    expect(p.tttValuesPerLayer).toBe(1_081_344); // 32 · 33,024 + 2·3·4096
    expect(p.tttStateBytes).toBe(138_412_032); // 32 · 1,081,344 · 4 B
  });

  it('a typed shape: no GQA, f32 KV, no conv; a shape that cannot be right is named', () => {
    const own: ModelShape = { name: 'mine', layers: 2, dModel: 8, heads: 2, kvHeads: 2, kvBytesPerValue: 4, stateBytesPerValue: 2, convKernel: 0 };
    const p = projectShape(own, 1_000_000);
    expect(p.kvBytesPerToken).toBe(128); // 2 · 2 · 2 · 4 · 4 B
    expect(p.kvFillTokens).toBe(7812); // ⌊1,000,000 / 128⌋
    expect(p.tttValuesPerLayer).toBe(80); // 2 · (2·16 + 2·4), no conv history
    expect(p.tttStateBytes).toBe(320); // 2 · 80 · 2 B
    expect(p.kvTokensMatchingState).toBe(2.5);
    expect(() => projectShape({ ...own, dModel: 9 }, 1)).toThrow(/multiple of heads/);
    expect(() => projectShape({ ...own, kvHeads: 3 }, 1)).toThrow(/KV heads 3 must divide heads 2/);
    expect(() => projectShape({ ...own, layers: 0 }, 1)).toThrow(ShapeError);
    expect(() => projectShape({ ...own, kvBytesPerValue: Number.NaN }, 1)).toThrow(/KV bytes per value/);
    expect(() => projectShape({ ...own, layers: 2.5 }, 1)).toThrow(/whole number/);
  });
});

describe('the shipped pair, from the configs in the model files', () => {
  it('tiny-ttt: the formula gives the 20,480 B of ttt-state the engine measures (docs/VIEWS.md)', () => {
    const c = config('tiny-ttt.bttt'); // d 64, 4 heads of 16, K 4, mixers ttt/swa/ttt, window 8
    expect(tttValuesPerLayer({ dModel: c.dModel, heads: c.nHeads, convKernel: c.ttt.convKernel })).toBe(2560); // 4·(2·256+32) + 2·3·64
    const pair = projectPair(c, config('tiny-kv.bttt'), GiB8);
    expect(pair.tttStateBytes).toBe(20_480 + 4096); // 2 TTT layers · 2560 · 4 B + the swa ring 2 · 8 slots · 64 · 4 B
    expect(pair.kvBytesPerToken).toBe(1536); // 2 · 3 attn layers · 64 · 4 B, as e2e/app/views.spec.ts measures
    expect(pair.kvFillTokens).toBe(5_592_405); // ⌊2^33 / 1536⌋
  });

  it('sliding-window layers with an attention conv keep its q/k/v histories too (constant)', () => {
    const ttt = config('tiny-ttt.bttt');
    const plain = projectPair(ttt, config('tiny-kv.bttt'), GiB8).tttStateBytes;
    const withConv = projectPair({ ...ttt, attn: { convKernel: 4, gate: false } }, config('tiny-kv.bttt'), GiB8).tttStateBytes;
    expect(withConv - plain).toBe(3 * 3 * 64 * 4); // 1 swa layer · 3 · (4−1) · 64 · 4 B
  });

  it('ttt-hybrid-d256 against kv-d256: 0.8 MB of constant state, the size of a 67-token KV cache', () => {
    const pair = projectPair(config('ttt-hybrid-d256.bttt'), config('kv-d256.bttt'), GiB8);
    expect(pair.tttStateBytes).toBe(819_200); // 4 · (4·(2·64²+2·64) + 2·3·256) · 4 B + 2 swa · 2 · 64 · 256 · 4 B
    expect(pair.kvBytesPerToken).toBe(12_288); // 2 · 6 · 256 · 4 B
    expect(pair.kvFillTokens).toBe(699_050); // ⌊8,589,934,592 / 12,288⌋
    expect(pair.kvTokensMatchingState).toBeCloseTo(66.67, 2);
  });
});
