import { describe, expect, it } from 'vitest';
import { f16BitsToF32, roundToF16 } from '../format/f16';
import { packFloatTable } from './float-table';

/** What unpack2x16float gives for element c of row r (the shader's read). */
function unpackF16(words: Uint32Array, rowWords: number, r: number, c: number): number {
  return f16BitsToF32((words[r * rowWords + (c >> 1)] >>> (16 * (c & 1))) & 0xffff);
}

describe('packFloatTable', () => {
  it('stores f16-exact tables as f16 pairs that unpack to the same values (odd row length padded)', () => {
    const rows = 3;
    const cols = 5;
    const data = new Float32Array(rows * cols).map((_, i) => roundToF16(Math.sin(i + 1) * 3));
    data[4] = -0;
    data[7] = f16BitsToF32(0x0001); // the smallest f16 subnormal
    data[8] = roundToF16(60000);
    const t = packFloatTable(data, rows, cols);
    expect(t.f16).toBe(true);
    expect(t.rowWords).toBe(3);
    expect(t.words.length).toBe(rows * 3);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(unpackF16(t.words, t.rowWords, r, c)).toBe(data[r * cols + c]);
    for (let r = 0; r < rows; r++) expect(t.words[r * 3 + 2] >>> 16).toBe(0); // the pad half
  });

  it('keeps a table as f32 when one value is not an f16 (no rounding behind the model\'s back)', () => {
    const data = new Float32Array([0.5, 0.25, 1.0, 0.1]); // 0.1 is not an f16
    const t = packFloatTable(data, 2, 2);
    expect(t.f16).toBe(false);
    expect(t.rowWords).toBe(2);
    expect(Array.from(new Float32Array(t.words.buffer, t.words.byteOffset, t.words.length))).toEqual(Array.from(data));
    expect(packFloatTable(new Float32Array([70000, 1]), 1, 2).f16).toBe(false); // past the f16 range
  });

  it('rejects a length that does not match the shape', () => {
    expect(() => packFloatTable(new Float32Array(5), 2, 3)).toThrow('5 values do not make a [2, 3] table');
  });
});
