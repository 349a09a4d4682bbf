// IEEE binary16 <-> binary32. The writer rounds to nearest, ties to even (as numpy's astype(float16) and
// torch's .half() do), so both writers produce the same bits for the same floats.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f16 bits of the f32 nearest to `value`, rounded to nearest even; overflow gives ±infinity. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is still correct
  return sign | h;
}

let widenTable: Float32Array | null = null;

/** All 65536 f16 values widened, built on first use (256 KiB). */
function table(): Float32Array {
  if (widenTable) return widenTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant !== 0 ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  widenTable = t;
  return t;
}

export function f16BitsToF32(bits: number): number {
  return table()[bits & 0xffff]!;
}

/** True when the f16 bits encode NaN or ±infinity. */
export function f16IsNonFinite(bits: number): boolean {
  return (bits & 0x7c00) === 0x7c00;
}

/** The f32 value after a round trip through f16. */
export function roundToF16(value: number): number {
  return f16BitsToF32(f32ToF16Bits(value));
}
