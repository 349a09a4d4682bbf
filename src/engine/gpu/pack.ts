// Host-side weight preparation: ternary tensors repacked for bitlinear.wgsl, RoPE phase steps for attention.wgsl.
import type { TernaryTensor } from '../types';

export interface PackedTernary {
  /** [rows, cols / 16] u32, 2 bits per weight, code = w + 1, weight k of a word in bits 2k..2k+1. */
  words: Uint32Array;
  /** s_w per output row (rows of concatenated tensors keep their own tensor's scale). */
  rowScales: Float32Array;
  rows: number;
  cols: number;
}

/** Concatenates ternary [out, in] tensors that share an input along the output dimension and packs them. */
export function packTernaryRows(tensors: TernaryTensor[]): PackedTernary {
  if (tensors.length === 0) throw new Error('packTernaryRows: no tensors');
  const cols = tensors[0].shape[1];
  if (cols % 16 !== 0) throw new Error(`packTernaryRows: input size ${cols} is not a multiple of 16`);
  for (const t of tensors) {
    if (t.shape.length !== 2 || t.shape[1] !== cols) throw new Error(`packTernaryRows: shape [${t.shape.join(', ')}] does not take inputs of ${cols}`);
  }
  const rows = tensors.reduce((n, t) => n + t.shape[0], 0);
  const wordsPerRow = cols / 16;
  const words = new Uint32Array(rows * wordsPerRow);
  const rowScales = new Float32Array(rows);
  let row = 0;
  for (const t of tensors) {
    const v = t.values;
    for (let r = 0; r < t.shape[0]; r++, row++) {
      rowScales[row] = t.scale;
      for (let w = 0; w < wordsPerRow; w++) {
        let word = 0;
        const base = r * cols + w * 16;
        for (let k = 0; k < 16; k++) {
          const trit = v[base + k];
          if (trit < -1 || trit > 1) throw new Error(`packTernaryRows: value ${trit} is not ternary`);
          word |= (trit + 1) << (2 * k);
        }
        words[row * wordsPerRow + w] = word >>> 0;
      }
    }
  }
  return { words, rowScales, rows, cols };
}

/** Columns per vec4<u32> of the matvec layout: 4 words × 16 two-bit codes. */
export const MATVEC_CHUNK_COLS = 64;

export interface PackedTernaryMatvec {
  /**
   * [rows, chunks, 4] u32 (a row is `chunks` vec4<u32>, each covering 64 columns; the row is padded with weight 0).
   * Word k of chunk c holds columns 64c + 16k + 4j + b (j, b in 0..3) at bits 8b + 2j as code = w + 1, so that
   * `(word >> 2j) & 0x03030303` is 4 consecutive columns' codes, one per byte (shaders/bitlinear.wgsl).
   */
  words: Uint32Array;
  rowScales: Float32Array;
  rows: number;
  cols: number;
  /** vec4<u32> per row: ceil(cols / 64). */
  chunks: number;
}

/** As packTernaryRows, in the layout of the matvec kernel (bitlinear_matvec); any input size. */
export function packTernaryMatvec(tensors: TernaryTensor[]): PackedTernaryMatvec {
  if (tensors.length === 0) throw new Error('packTernaryMatvec: no tensors');
  const cols = tensors[0].shape[1];
  for (const t of tensors) {
    if (t.shape.length !== 2 || t.shape[1] !== cols || cols <= 0) throw new Error(`packTernaryMatvec: shape [${t.shape.join(', ')}] does not take inputs of ${cols}`);
  }
  const rows = tensors.reduce((n, t) => n + t.shape[0], 0);
  const chunks = Math.ceil(cols / MATVEC_CHUNK_COLS);
  const wordsPerRow = chunks * 4;
  // Code 1 (weight 0) everywhere first: the padding columns then add nothing whatever x holds there.
  const words = new Uint32Array(rows * wordsPerRow).fill(0x55555555);
  const rowScales = new Float32Array(rows);
  let row = 0;
  for (const t of tensors) {
    const v = t.values;
    for (let r = 0; r < t.shape[0]; r++, row++) {
      rowScales[row] = t.scale;
      const rowWords = row * wordsPerRow;
      for (let col = 0; col < cols; col++) {
        const trit = v[r * cols + col];
        if (trit < -1 || trit > 1) throw new Error(`packTernaryMatvec: value ${trit} is not ternary`);
        const word = col >> 4; // 16 columns per word
        const j = (col >> 2) & 3;
        const b = col & 3;
        const shift = 8 * b + 2 * j;
        words[rowWords + word] = ((words[rowWords + word] & ~(3 << shift)) | ((trit + 1) << shift)) >>> 0;
      }
    }
  }
  return { words, rowScales, rows, cols, chunks };
}

/**
 * RoPE phase step per pair i < f/2: theta^(−2i/f) radians as a 32-bit fixed-point fraction of a turn, so that the
 * shader computes pos · step mod 2³² exactly in u32 and the angle keeps full accuracy at any position.
 */
export function ropePhaseSteps(headSize: number, theta: number): Uint32Array {
  const steps = new Uint32Array(headSize / 2);
  for (let i = 0; i < headSize / 2; i++) {
    const turns = Math.pow(theta, (-2 * i) / headSize) / (2 * Math.PI);
    steps[i] = Math.round((turns - Math.floor(turns)) * 4294967296) >>> 0;
  }
  return steps;
}
