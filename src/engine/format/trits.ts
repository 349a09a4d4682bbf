// Ternary packing of docs/FORMAT.md: byte j holds weights 5j..5j+4 as Σ (w + 1)·3^m, so every byte is ≤ 242.
// Trits past the end of the tensor are written as weight 0 (digit 1).
import { BtttError } from './errors';

export const TRITS_PER_BYTE = 5;
export const MAX_TRIT_BYTE = 242; // 3^5 - 1

/** Bytes needed to pack n trits. */
export function packedTritBytes(n: number): number {
  return Math.ceil(n / TRITS_PER_BYTE);
}

// DECODE[5·b + m] = weight m of byte b, for b ≤ 242.
const DECODE: Int8Array = (() => {
  const table = new Int8Array((MAX_TRIT_BYTE + 1) * TRITS_PER_BYTE);
  for (let b = 0; b <= MAX_TRIT_BYTE; b++) {
    let rest = b;
    for (let m = 0; m < TRITS_PER_BYTE; m++) {
      table[b * TRITS_PER_BYTE + m] = (rest % 3) - 1;
      rest = Math.floor(rest / 3);
    }
  }
  return table;
})();

/** Packs values in {-1, 0, 1}; anything else is a BAD_TRIT error naming the index. */
export function packTrits(values: Int8Array): Uint8Array {
  const out = new Uint8Array(packedTritBytes(values.length));
  for (let j = 0; j < out.length; j++) {
    let byte = 0;
    for (let m = TRITS_PER_BYTE - 1; m >= 0; m--) {
      const i = j * TRITS_PER_BYTE + m;
      const w = i < values.length ? values[i]! : 0;
      if (w !== -1 && w !== 0 && w !== 1) throw new BtttError('BAD_TRIT', `value ${w} at index ${i} is not in {-1, 0, 1}`);
      byte = byte * 3 + (w + 1);
    }
    out[j] = byte;
  }
  return out;
}

/**
 * Unpacks n trits. Rejects a byte over 242 and padding trits (past n in the last byte) that are not weight 0.
 * `fileOffset` (the file position of bytes[0]) and `tensor` only make error messages precise.
 */
export function unpackTrits(bytes: Uint8Array, n: number, context: { tensor?: string; fileOffset?: number } = {}): Int8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`unpackTrits: n must be a non-negative integer, got ${n}`);
  const need = packedTritBytes(n);
  const where = context.tensor !== undefined ? `tensor ${context.tensor}: ` : '';
  if (bytes.length < need) {
    throw new BtttError('TRUNCATED', `${where}${n} trits need ${need} bytes, got ${bytes.length}`, { tensor: context.tensor });
  }
  const out = new Int8Array(n);
  const fullBytes = Math.floor(n / TRITS_PER_BYTE);
  for (let j = 0; j < need; j++) {
    const b = bytes[j]!;
    if (b > MAX_TRIT_BYTE) {
      const offset = context.fileOffset !== undefined ? context.fileOffset + j : undefined;
      const at = offset !== undefined ? ` (file offset ${offset})` : '';
      throw new BtttError('BAD_TRIT', `${where}packed byte ${j}${at} is ${b}, over ${MAX_TRIT_BYTE}`, { tensor: context.tensor, offset });
    }
    const base = b * TRITS_PER_BYTE;
    if (j < fullBytes) {
      const i = j * TRITS_PER_BYTE;
      out[i] = DECODE[base]!;
      out[i + 1] = DECODE[base + 1]!;
      out[i + 2] = DECODE[base + 2]!;
      out[i + 3] = DECODE[base + 3]!;
      out[i + 4] = DECODE[base + 4]!;
    } else {
      for (let m = 0; m < TRITS_PER_BYTE; m++) {
        const i = j * TRITS_PER_BYTE + m;
        const w = DECODE[base + m]!;
        if (i < n) out[i] = w;
        else if (w !== 0) {
          const offset = context.fileOffset !== undefined ? context.fileOffset + j : undefined;
          throw new BtttError('BAD_TRIT', `${where}padding trit ${m} of the last packed byte (${b}) is ${w}, must be 0`, {
            tensor: context.tensor,
            offset,
          });
        }
      }
    }
  }
  return out;
}
