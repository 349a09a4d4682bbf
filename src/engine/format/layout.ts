// Constants and small arithmetic of the .bttt layout (docs/FORMAT.md, "Layout"), shared by reader and writer.

export const BTTT_MAGIC = new Uint8Array([0x42, 0x54, 0x54, 0x54]); // "BTTT"
export const BTTT_VERSION = 1;
export const PREAMBLE_BYTES = 16;
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
export const MIN_HEADER_BYTES = 2; // "{}"
export const DATA_ALIGN = 64;
/** Largest element count of one tensor (BAD_SHAPE beyond). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31;

export type BtttDtype = 'f32' | 'f16' | 't158';
export const BTTT_DTYPES: readonly BtttDtype[] = ['f32', 'f16', 't158'];

/** One row of the header's tensor table. */
export interface TensorEntry {
  name: string;
  dtype: BtttDtype;
  shape: number[];
  /** Relative to dataStart; a multiple of 64. */
  offset: number;
  length: number;
  crc32: number;
}

export function alignUp(n: number, align = DATA_ALIGN): number {
  return Math.ceil(n / align) * align;
}

export function dataStartFor(headerLength: number): number {
  return alignUp(PREAMBLE_BYTES + headerLength);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes a tensor of `n` elements takes in `dtype`. */
export function tensorByteLength(dtype: BtttDtype, n: number): number {
  if (dtype === 'f32') return 4 * n;
  if (dtype === 'f16') return 2 * n;
  return 4 + Math.ceil(n / 5);
}
