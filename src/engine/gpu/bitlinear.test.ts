import { describe, expect, it } from 'vitest';
import { packTernaryMatvec } from './pack';
import { matvecInputWords, matvecPlan } from './bitlinear';
import { isCpuAdapter } from './context';
import { bitlinearShader, selectVariant } from './shaders';
import type { TernaryTensor } from '../types';

const tensor = (rows: number, cols: number, values: number[], scale = 1): TernaryTensor => ({ kind: 'ternary', shape: [rows, cols], scale, values: Int8Array.from(values) });

describe('packTernaryMatvec', () => {
  it('puts column 16k + 4j + b of a chunk at bits 8b + 2j of word k, code = w + 1, padding with weight 0', () => {
    const cols = 70; // two chunks, the second padded
    const values = Array.from({ length: cols }, (_, i) => (i % 3) - 1);
    const p = packTernaryMatvec([tensor(1, cols, values, 0.5)]);
    expect(p.chunks).toBe(2);
    expect(p.words).toHaveLength(8);
    expect(Array.from(p.rowScales)).toEqual([0.5]);
    for (let col = 0; col < 128; col++) {
      const word = p.words[col >> 4];
      const shift = 8 * (col & 3) + 2 * ((col >> 2) & 3);
      expect((word >>> shift) & 3, `column ${col}`).toBe(col < cols ? values[col] + 1 : 1);
    }
  });
  it('concatenates tensors with a scale per row and refuses non-ternary values', () => {
    const p = packTernaryMatvec([tensor(1, 4, [1, 1, 1, 1], 0.1), tensor(2, 4, [0, 0, 0, 0, -1, -1, -1, -1], 0.2)]);
    expect(p.rows).toBe(3);
    expect(Array.from(p.rowScales)).toEqual([Math.fround(0.1), Math.fround(0.2), Math.fround(0.2)]);
    expect(p.words[0] & 0x03030303).toBe(0x02020202);
    expect(p.words[4] & 0x03030303).toBe(0x01010101);
    expect(p.words[8] & 0x03030303).toBe(0);
    expect(() => packTernaryMatvec([tensor(1, 2, [2, 0])])).toThrow(/not ternary/);
    expect(() => packTernaryMatvec([tensor(1, 2, [0, 0]), tensor(1, 3, [0, 0, 0])])).toThrow(/does not take inputs of 2/);
  });
});

describe('selectVariant', () => {
  const src = ['a', '//#if x', 'x-on', '//#else', 'x-off', '//#endif', '//#if y', 'y-on', '//#endif', 'b'].join('\n');
  it('keeps the lines of the enabled features and the else-lines of the others', () => {
    expect(selectVariant(src, new Set(['x']))).toBe('a\nx-on\nb');
    expect(selectVariant(src, new Set(['y']))).toBe('a\nx-off\ny-on\nb');
  });
  it('refuses nested, unmatched and unterminated blocks', () => {
    expect(() => selectVariant('//#if a\n//#if b\n//#endif\n//#endif', new Set())).toThrow(/do not nest/);
    expect(() => selectVariant('//#endif', new Set())).toThrow(/without a matching/);
    expect(() => selectVariant('//#if a\nx', new Set())).toThrow(/without \/\/#endif/);
  });
  it('gives each bitlinear variant exactly one matvec entry point, and subgroup builtins only where enabled', () => {
    for (const subgroups of [false, true]) {
      for (const dot4 of [false, true]) {
        // Comments may name the builtins; the code may call them only where enabled.
        const code = bitlinearShader({ subgroups, dot4 }).replace(/\/\/.*$/gm, '');
        expect(code.match(/fn bitlinear_matvec\(/g)).toHaveLength(1);
        expect(code.match(/fn dot_codes\(/g)).toHaveLength(1);
        expect(code.includes('subgroupAdd(')).toBe(subgroups);
        expect(code.startsWith('enable subgroups;')).toBe(subgroups);
        expect(code.includes('dot4I8Packed(')).toBe(dot4);
      }
    }
  });
});

describe('matvecPlan', () => {
  it('sizes the portable variant by the row length and the subgroup one by rows only', () => {
    // 1 chunk per row: 1 invocation per 4-row block, 64 blocks = 256 rows per workgroup.
    const small = matvecPlan(16, 48, false, { subgroups: false, dot4: false });
    expect(small.constants).toMatchObject({ IN: 48, OUT: 16, ACCUMULATE: 0, THREADS_PER_ROW: 1, ROWS_PER_WG: 256 });
    expect(small.workgroups).toBe(1);
    const wide = matvecPlan(2560, 6912, true, { subgroups: false, dot4: true }, 32768);
    expect(wide.constants).toMatchObject({ THREADS_PER_ROW: 64, ROWS_PER_WG: 64, ACCUMULATE: 1 });
    expect(wide.workgroups).toBe(40);
    expect(wide.workgroupBytes).toBe(108 * 64 + 16 * 64 * 16);
    // At the default 16 KiB the portable variant takes half the rows per workgroup to fit x and the partial sums.
    const tight = matvecPlan(2560, 6912, true, { subgroups: false, dot4: true }, 16384);
    expect(tight.constants.ROWS_PER_WG).toBe(32);
    expect(tight.workgroupBytes).toBe(108 * 64 + 8 * 64 * 16);
    const sg = matvecPlan(1024, 256, false, { subgroups: true, dot4: true });
    expect(sg.constants).toEqual({ IN: 256, OUT: 1024, ACCUMULATE: 0, ROWS_PER_WG: 64 });
    expect(sg.workgroups).toBe(16);
    expect(matvecPlan(1024, 256, false, { subgroups: true, dot4: true }, 16384, 16).workgroups).toBe(64);
    expect(() => matvecPlan(8, 64, false, { subgroups: true, dot4: true }, 16384, 6)).toThrow(/multiple of 4/);
  });
  it('refuses inputs whose staged x exceeds the workgroup memory', () => {
    expect(() => matvecPlan(8, 20000, false, { subgroups: true, dot4: true }, 16384)).toThrow(/workgroup memory/);
    expect(() => matvecPlan(0, 64, false, { subgroups: true, dot4: true })).toThrow(/bad shape/);
  });
});

describe('rows per thread (CPU adapters)', () => {
  it('plans bitlinear_row with 32 rows per invocation in workgroups of 4 and no workgroup memory, whatever the width', () => {
    const plan = matvecPlan(100, 20000, true, { subgroups: true, dot4: true, rowPerThread: true });
    expect(plan.entryPoint).toBe('bitlinear_row');
    expect(plan.workgroups).toBe(1); // 4 invocations of 32 rows
    expect(matvecPlan(129, 64, false, { subgroups: false, dot4: false, rowPerThread: true }).workgroups).toBe(2);
    expect(matvecPlan(1536, 256, false, { subgroups: false, dot4: false, rowPerThread: true }).workgroups).toBe(12);
    expect(plan.workgroupBytes).toBe(0);
    expect(plan.constants).toEqual({ IN: 20000, OUT: 100, ACCUMULATE: 1 });
  });
  it('sizes the int8 input in whole 64-column chunks, as bitlinear_row reads it', () => {
    expect(matvecInputWords(256)).toBe(256);
    expect(matvecInputWords(683)).toBe(704);
    expect(matvecInputWords(1)).toBe(64);
  });
  it('recognises CPU adapters by their description and leaves GPUs alone', () => {
    expect(isCpuAdapter('google / swiftshader / / SwiftShader Device (Subzero)')).toBe(true);
    expect(isCpuAdapter('mesa / llvmpipe')).toBe(true);
    expect(isCpuAdapter('nvidia / hopper / / NVIDIA H200')).toBe(false);
    expect(isCpuAdapter('apple / metal-3')).toBe(false);
  });
});

describe('the fused-norm form (the decode step)', () => {
  it('on CPU adapters plans bitlinear_row_norm, 8 rows per invocation in workgroups of 16, with NORM_N = the width', () => {
    const plan = matvecPlan(257, 768, true, { subgroups: true, dot4: true, rowPerThread: true }, 16384, undefined, true);
    expect(plan.entryPoint).toBe('bitlinear_row_norm');
    expect(plan.workgroups).toBe(3); // ⌈257 / 128⌉
    expect(plan.constants).toEqual({ IN: 768, OUT: 257, ACCUMULATE: 1, NORM_N: 768 });
    expect(plan.shader).toContain('fn bitlinear_row_norm');
    // Past its private x (2048 columns), the tiled kernel (barriers, but any width that fits).
    const wide = matvecPlan(64, 4096, false, { subgroups: false, dot4: false, rowPerThread: true }, 16384, undefined, true);
    expect(wide.entryPoint).toBe('bitlinear_matvec');
    expect(wide.constants.THREADS_PER_ROW).toBeGreaterThan(0);
  });
  it('on GPUs keeps bitlinear_matvec, compiled with the prologue, and counts the reductions in workgroup memory', () => {
    for (const features of [{ subgroups: true, dot4: true }, { subgroups: false, dot4: false }]) {
      const plain = matvecPlan(256, 256, false, features);
      const fused = matvecPlan(256, 256, false, features, 16384, undefined, true);
      expect(fused.entryPoint).toBe('bitlinear_matvec');
      expect(fused.workgroupBytes).toBe(plain.workgroupBytes + 64 * 16);
      expect(fused.shader).toContain('norm_stats_wg(t, 0u)');
      expect(plain.shader).not.toContain('norm_stats_wg(t, 0u)');
      expect(plain.shader).not.toContain('fn bitlinear_row_norm');
    }
  });
});
