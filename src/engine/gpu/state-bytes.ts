// The bytes of GpuModel.saveState: a header of u32 words (the position, the number of buffers, one slot count per
// mixer (0 for TTT layers), each buffer's size), then the buffers' contents in order. restoreState reads the slot
// counts first (the KV caches are resized to them), then checks the rest against the buffers it restores into.
import { GpuModelError } from './model-check';

/** The error of a state that was saved by another model (or damaged). */
export const stateUnfitError = (why: string) => new GpuModelError(`this state does not fit this model: ${why}`);
const unfit = stateUnfitError;

export function encodeState(position: number, slots: readonly number[], sizes: readonly number[], contents: readonly ArrayBuffer[]): ArrayBuffer {
  const parts = [new Uint32Array([position, sizes.length, ...slots, ...sizes]).buffer, ...contents];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), at);
    at += p.byteLength;
  }
  return out.buffer;
}

/** The position, buffer count and per-mixer slot counts of a saved state of a model with `mixers` mixers. */
export function decodeStateHeader(data: ArrayBuffer, mixers: number): { position: number; buffers: number; slots: number[] } {
  const words = new Uint32Array(data, 0, Math.floor(Math.min(data.byteLength, 4 * (2 + mixers)) / 4));
  if (words.length < 2 + mixers) throw unfit('it is truncated');
  return { position: words[0], buffers: words[1], slots: Array.from(words.subarray(2, 2 + mixers)) };
}

/** Where each buffer's bytes start in `data`, after checking them against `sizes`, the buffers restored into. */
export function stateOffsets(data: ArrayBuffer, mixers: number, sizes: readonly number[]): number[] {
  const { buffers } = decodeStateHeader(data, mixers);
  if (buffers !== sizes.length) throw unfit(`it has ${buffers} buffers, this model ${sizes.length}`);
  const headerBytes = 4 * (2 + mixers + sizes.length);
  if (data.byteLength < headerBytes) throw unfit('it is truncated');
  const saved = new Uint32Array(data, 4 * (2 + mixers), sizes.length);
  if (sizes.some((size, i) => size !== saved[i])) throw unfit('buffer sizes differ (another model?)');
  if (data.byteLength !== headerBytes + sizes.reduce((n, size) => n + size, 0)) throw unfit('its length is wrong');
  let at = headerBytes;
  return sizes.map((size) => (at += size) - size);
}
