import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32';
import { BtttError } from './errors';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from './f16';
import { packTrits, unpackTrits } from './trits';
import { Rng } from '../util/rng';

describe('crc32', () => {
  it('matches the IEEE check value and zlib on known inputs', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    // zlib.crc32(b"The quick brown fox jumps over the lazy dog")
    expect(crc32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('is incremental', () => {
    const bytes = new TextEncoder().encode('incremental checksums over chunks');
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(crc32(bytes));
    }
  });
});

describe('trits', () => {
  it('decodes every one of the 243 valid bytes to its base-3 digits and packs them back', () => {
    for (let b = 0; b <= 242; b++) {
      const values = unpackTrits(new Uint8Array([b]), 5);
      let rest = b;
      for (let m = 0; m < 5; m++) {
        expect(values[m]).toBe((rest % 3) - 1);
        rest = Math.floor(rest / 3);
      }
      expect(Array.from(packTrits(values))).toEqual([b]);
    }
  });

  it('rejects every byte over 242 with BAD_TRIT naming the offset', () => {
    for (let b = 243; b <= 255; b++) {
      let error: unknown;
      try {
        unpackTrits(new Uint8Array([121, b]), 10, { tensor: 'x', fileOffset: 100 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BtttError);
      expect((error as BtttError).code).toBe('BAD_TRIT');
      expect((error as BtttError).offset).toBe(101);
    }
  });

  it('round-trips random lengths and pads with weight 0', () => {
    const rng = new Rng(3);
    for (let n = 0; n < 40; n++) {
      const values = Int8Array.from({ length: n }, () => rng.int(3) - 1);
      const packed = packTrits(values);
      expect(packed.length).toBe(Math.ceil(n / 5));
      expect(Array.from(unpackTrits(packed, n))).toEqual(Array.from(values));
      if (n % 5 !== 0) {
        // Padding digits are 1 (weight 0): the last byte decodes to zeros past n.
        expect(Array.from(unpackTrits(packed, packed.length * 5).subarray(n))).toEqual(new Array(packed.length * 5 - n).fill(0));
      }
    }
  });

  it('rejects padding trits that are not weight 0, and values outside {-1,0,1}', () => {
    const bad = packTrits(Int8Array.from([1, 1, 1, -1, 0])); // as if n were 3: trit 3 is -1
    expect(() => unpackTrits(bad, 3)).toThrow(/padding trit 3/);
    expect(() => packTrits(Int8Array.from([0, 2]))).toThrow(BtttError);
  });
});

describe('f16', () => {
  it('converts known values with round-to-nearest-even', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(1);
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // tie, to even (0)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(2); // tie, to even (2)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, to even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(roundToF16(0.1)).toBeCloseTo(0.0999755859375, 12);
  });

  it('round-trips every finite f16 value exactly', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
    }
  });

  it('rounds to the nearest f16 for random f32 values', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 2000; i++) {
      const v = Math.fround(rng.next() * 2 ** (rng.int(40) - 26)); // positive: neighbours are bits ± 1
      const r = roundToF16(v);
      const bits = f32ToF16Bits(v);
      const below = f16BitsToF32(Math.max(bits - 1, 0));
      const above = f16BitsToF32(bits + 1);
      // No neighbouring f16 value is strictly closer.
      expect(Math.abs(v - r)).toBeLessThanOrEqual(Math.abs(v - below));
      expect(Math.abs(v - r)).toBeLessThanOrEqual(Math.abs(v - above));
    }
  });
});
