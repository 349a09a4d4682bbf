import { describe, expect, it } from 'vitest';
import { KERNEL_CONSTANTS, SHADERS } from './shaders';
import {
  SEGMENT_FLOATS,
  SEGMENT_MAX_TOKENS,
  TTT_OFFSET_NAMES,
  TTT_PARAM_TENSORS,
  packTttParams,
  tttInputLayout,
  tttOffsetConstants,
  tttSegmentTokens,
  tttStateLayout,
} from './ttt-layout';

// Each tensor filled with its own marker value, with lengths that differ per tensor; the conv kernels empty (K = 0).
function tensors(withConv: boolean): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  TTT_PARAM_TENSORS.forEach(({ tensor }, i) => {
    const empty = !withConv && tensor.startsWith('ttt.conv_');
    m.set(tensor, new Float32Array(empty ? 0 : 3 + i).fill(100 + i));
  });
  return m;
}

describe('TTT layouts', () => {
  for (const withConv of [true, false]) {
    it(`packs every params tensor at its declared offset (${withConv ? 'with' : 'without'} conv)`, () => {
      const source = tensors(withConv);
      const { layout, data } = packTttParams((name) => source.get(name)!, 40);
      let total = 0;
      for (const { key, tensor } of TTT_PARAM_TENSORS) {
        const expected = source.get(tensor)!;
        expect(Array.from(data.subarray(layout[key], layout[key] + expected.length))).toEqual(Array.from(expected));
        total += expected.length;
      }
      // The layer's statsBase follows the tensors, as an exact float.
      expect(layout.statsBase).toBe(total);
      expect(data[layout.statsBase]).toBe(40);
      expect(layout.total).toBe(total + 1);
      expect(data.length).toBe(total + 1);
      const constants = tttOffsetConstants(tttInputLayout(64, true, true), layout, tttStateLayout(4, 16, 4, 64));
      for (const { key, offset } of TTT_PARAM_TENSORS) if (offset) expect(constants[offset]).toBe(layout[key]);
      expect(constants.OFF_STATS_BASE).toBe(layout.statsBase);
      expect(() => packTttParams((name) => source.get(name)!, 1.5)).toThrow(/statsBase/);
    });
  }

  it('lays the state parts end to end: W0, GW [H,f,f]; b0, Gb [H,f]; histories [K−1, d]', () => {
    const [H, f, K, d] = [4, 16, 4, 64];
    const s = tttStateLayout(H, f, K, d);
    expect([s.W0, s.GW, s.b0, s.Gb, s.histQ, s.histK, s.total]).toEqual([0, 1024, 2048, 2112, 2176, 2368, 2560]);
    const noConv = tttStateLayout(H, f, 0, d);
    expect(noConv.histK).toBe(noConv.histQ);
    expect(noConv.total).toBe(noConv.histQ);
  });

  it('places uq, uk, v, g in the fused input row (k shares q\'s row with shareQK)', () => {
    expect(tttInputLayout(64, true, true)).toEqual({ uq: 0, uk: 0, v: 64, g: 128, rows: 192 });
    expect(tttInputLayout(64, false, false)).toEqual({ uq: 0, uk: 64, v: 128, g: 192, rows: 192 });
  });

  it('declares every OFF_* name ttt.wgsl uses exactly once, generates none it does not use, and gives a value for each', () => {
    const src = SHADERS.ttt.replace(/\/\/.*$/gm, ''); // code only: comments may name OFF_* loosely
    const used = new Set(src.match(/\bOFF_[A-Z0-9_]+\b/g));
    for (const name of used) {
      const declarations = src.match(new RegExp(`override ${name}\\b`, 'g')) ?? [];
      expect(declarations, name).toHaveLength(1);
    }
    for (const name of TTT_OFFSET_NAMES) expect(src).toContain(`override ${name}: u32;`);
    // Used beyond its declaration (the optional OFF_UV/OFF_CONV_V/OFF_HIST_V are ttt.wgsl's own, not generated).
    for (const name of TTT_OFFSET_NAMES) expect(src.match(new RegExp(`\\b${name}\\b`, 'g'))!.length, name).toBeGreaterThan(1);
    const state = tttStateLayout(2, 8, 3, 16);
    const constants = tttOffsetConstants(tttInputLayout(16, false, true), packTttParams(() => new Float32Array(2), 0).layout, state);
    expect(Object.keys(constants).sort()).toEqual([...TTT_OFFSET_NAMES].sort());
    expect(constants.OFF_GW).toBe(state.GW);
    expect(constants.OFF_HIST_K).toBe(state.histK);
  });

  it("sizes ttt_batch_rows' segments to the shader's workgroup arrays", () => {
    expect(SHADERS.ttt).toContain(`const SEG_FLOATS: u32 = ${SEGMENT_FLOATS}u;`);
    expect(SHADERS.ttt).toContain(`const SEG_MAX: u32 = ${SEGMENT_MAX_TOKENS}u;`);
    const threads = KERNEL_CONSTANTS.WORKGROUP_SIZE;
    expect([16, 64, 128, 256].map((f) => tttSegmentTokens(f, threads))).toEqual([16, 16, 8, 4]);
    // f = 96: 10 rows fit SEGMENT_FLOATS, but 3 × 24 tiles of 4 × 4 would outnumber 64 threads: 8 (2 × 24 = 48).
    expect(tttSegmentTokens(96, threads)).toBe(8);
    expect(() => tttSegmentTokens(2048, threads)).toThrow(/too large/);
  });
});
