// Host-side packing of the float tables (tok_embed, lm_head) for embedding.wgsl and head.wgsl: f16 pairs in u32
// words when that loses nothing, f32 otherwise. The LM head is the largest read of a token step; at f16 it reads
// half the bytes, with values equal to the f32 ones, since a .bttt file stores these tables as f16 by default
// (the reader widens them exactly, so every value is an f16) and the reference computes with the same values.
import { f16BitsToF32, f32ToF16Bits } from '../format/f16';

export interface PackedFloatTable {
  /** f16: [rows, rowWords] u32, element c of a row in the low (c even) or high (c odd) half of word ⌊c/2⌋. f32: the bits. */
  words: Uint32Array;
  /** True when stored as f16 (every value was exactly representable), false when kept as f32. */
  f16: boolean;
  /** u32 words per row: ⌈cols/2⌉ as f16 (a row of odd length ends with a zero half), cols as f32. */
  rowWords: number;
}

/**
 * Packs a row-major [rows, cols] table as f16 when every value round-trips through f16 exactly (a table read from a
 * file that stores f16), else as f32 — a table with values f16 cannot hold (an f32 file, an in-memory model) stays
 * f32, so the GPU never computes with values other than the model's.
 */
export function packFloatTable(data: Float32Array, rows: number, cols: number): PackedFloatTable {
  if (data.length !== rows * cols) throw new Error(`packFloatTable: ${data.length} values do not make a [${rows}, ${cols}] table`);
  const rowWords = Math.ceil(cols / 2);
  const words = new Uint32Array(rows * rowWords);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c];
      const bits = f32ToF16Bits(v);
      if (f16BitsToF32(bits) !== v) return { words: new Uint32Array(data.buffer, data.byteOffset, data.length), f16: false, rowWords: cols };
      words[r * rowWords + (c >> 1)] |= bits << (16 * (c & 1));
    }
  }
  return { words, f16: true, rowWords };
}
