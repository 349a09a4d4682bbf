// Model statistics shown by `npm run inspect` and the worker's ModelInfo.
import type { ModelFile } from '../types';
import { elementCount, tensorByteLength } from './layout';

export interface ModelStats {
  /** Every stored parameter (embeddings, norms, TTT parameters, ternary weights). */
  params: number;
  /** Parameters stored as t158. */
  ternaryParams: number;
  /** Bytes of all t158 tensors in the file (scales included). */
  ternaryBytes: number;
  /** 8 × ternaryBytes / ternaryParams (0 without ternary weights). */
  bitsPerTernaryWeight: number;
  fileBytes: number;
}

/**
 * Statistics of a model. `tensorTable` is the file header's table (readBtttHeader(...).tensors); without it
 * the t158 byte lengths are computed from the shapes, which is what any valid file holds (FORMAT.md fixes
 * the length of a t158 tensor), so in-memory models get the numbers their file would have.
 */
export function modelStats(model: ModelFile, tensorTable?: readonly { name: string; dtype: string; length: number }[]): ModelStats {
  let params = 0;
  let ternaryParams = 0;
  let ternaryBytes = 0;
  const lengths = new Map(tensorTable?.filter((t) => t.dtype === 't158').map((t) => [t.name, t.length]));
  for (const [name, tensor] of model.tensors) {
    const n = elementCount(tensor.shape);
    params += n;
    if (tensor.kind === 'ternary') {
      ternaryParams += n;
      ternaryBytes += lengths.get(name) ?? tensorByteLength('t158', n);
    }
  }
  return {
    params,
    ternaryParams,
    ternaryBytes,
    bitsPerTernaryWeight: ternaryParams > 0 ? (8 * ternaryBytes) / ternaryParams : 0,
    fileBytes: model.fileBytes,
  };
}
