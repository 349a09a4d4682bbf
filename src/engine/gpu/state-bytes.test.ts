import { describe, expect, it } from 'vitest';
import { decodeStateHeader, encodeState, stateOffsets } from './state-bytes';

describe('state bytes', () => {
  const sizes = [16, 8, 12];
  const contents = sizes.map((n, i) => new Uint8Array(n).fill(i + 1).buffer);
  const data = encodeState(7, [0, 32], sizes, contents);

  it('round-trips: the header, then each buffer where stateOffsets says', () => {
    expect(decodeStateHeader(data, 2)).toEqual({ position: 7, buffers: 3, slots: [0, 32] });
    const offsets = stateOffsets(data, 2, sizes);
    expect(offsets).toEqual([4 * 7, 4 * 7 + 16, 4 * 7 + 24]);
    offsets.forEach((at, i) => expect(Array.from(new Uint8Array(data, at, sizes[i]))).toEqual(Array(sizes[i]).fill(i + 1)));
  });

  it('refuses a state of another shape', () => {
    expect(() => decodeStateHeader(data.slice(0, 12), 2)).toThrow(/truncated/);
    expect(() => stateOffsets(data, 2, [16, 8])).toThrow(/3 buffers, this model 2/);
    expect(() => stateOffsets(data, 2, [16, 8, 16])).toThrow(/sizes differ/);
    expect(() => stateOffsets(data.slice(0, data.byteLength - 4), 2, sizes)).toThrow(/length is wrong/);
  });
});
