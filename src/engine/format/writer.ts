// The .bttt writer (docs/FORMAT.md). Tensors go in MATH.md's order, each 64-byte aligned; float tensors are
// f32 except tok_embed/lm_head, which default to f16. f16 rounds, so the first write of an f32 model loses
// precision there; reading and writing again is then byte-identical.
import type { ModelFile, Tensor } from '../types';
import { configProblem, expectedTensors } from '../model/spec';
import { crc32 } from './crc32';
import { BtttError } from './errors';
import { f16IsNonFinite, f32ToF16Bits } from './f16';
import { parseConfig, parseTokenizer } from './header';
import { BTTT_MAGIC, BTTT_VERSION, MAX_HEADER_BYTES, PREAMBLE_BYTES, alignUp, dataStartFor, elementCount, tensorByteLength } from './layout';
import type { BtttDtype, TensorEntry } from './layout';
import { packTrits } from './trits';

export interface WriteOptions {
  /** Storage of tok_embed and lm_head (default f16). */
  embedDtype?: 'f16' | 'f32';
}

function encodeTensor(name: string, tensor: Tensor, dtype: BtttDtype): Uint8Array {
  const n = elementCount(tensor.shape);
  const out = new Uint8Array(tensorByteLength(dtype, n));
  const view = new DataView(out.buffer);
  if (tensor.kind === 'ternary') {
    if (!Number.isFinite(tensor.scale) || tensor.scale < 0) throw new BtttError('BAD_TRIT', `tensor ${name}: scale ${tensor.scale} must be finite and ≥ 0`, { tensor: name });
    view.setFloat32(0, tensor.scale, true);
    if (!Number.isFinite(view.getFloat32(0, true))) throw new BtttError('BAD_TRIT', `tensor ${name}: scale ${tensor.scale} overflows f32`, { tensor: name });
    try {
      out.set(packTrits(tensor.values), 4);
    } catch (e) {
      if (e instanceof BtttError) throw new BtttError(e.code, `tensor ${name}: ${e.detail}`, { tensor: name });
      throw e;
    }
    return out;
  }
  const data = tensor.data;
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new BtttError('NON_FINITE', `tensor ${name}: element ${i} is ${v}`, { tensor: name });
    if (dtype === 'f32') view.setFloat32(4 * i, v, true);
    else {
      const bits = f32ToF16Bits(v);
      if (f16IsNonFinite(bits)) throw new BtttError('NON_FINITE', `tensor ${name}: element ${i} (${v}) overflows f16; write it as f32`, { tensor: name });
      view.setUint16(2 * i, bits, true);
    }
  }
  return out;
}

/** Serializes a model; rejects (with the reader's codes) anything the reader would reject. */
export function writeBttt(model: ModelFile, opts: WriteOptions = {}): Uint8Array {
  const embedDtype = opts.embedDtype ?? 'f16';
  const problem = configProblem(model.config);
  if (problem) throw new BtttError('HEADER_SCHEMA', `config breaks MATH.md: ${problem}`);
  // The reader's own validation, so the header is canonical (key order) and can be read back.
  const config = parseConfig(model.config);
  const tokenizer = parseTokenizer(model.tokenizer, config.vocabSize);

  const specs = expectedTensors(config);
  const expectedNames = new Set(specs.map((s) => s.name));
  for (const name of model.tensors.keys()) {
    if (!expectedNames.has(name)) throw new BtttError('UNEXPECTED_TENSOR', `tensor ${name} is not part of this config's model`, { tensor: name });
  }
  const entries: TensorEntry[] = [];
  const blobs: Uint8Array[] = [];
  let dataEnd = 0;
  for (const spec of specs) {
    const tensor = model.tensors.get(spec.name);
    if (!tensor) throw new BtttError('MISSING_TENSOR', `tensor ${spec.name} is required by the config`, { tensor: spec.name });
    const wantKind = spec.role === 'ternary' ? 'ternary' : 'float';
    if (tensor.kind !== wantKind || tensor.shape.length !== spec.shape.length || tensor.shape.some((d, i) => d !== spec.shape[i])) {
      throw new BtttError('TENSOR_SHAPE', `tensor ${spec.name}: ${tensor.kind} ${JSON.stringify(tensor.shape)}, the config requires ${wantKind} ${JSON.stringify(spec.shape)}`, {
        tensor: spec.name,
      });
    }
    const n = elementCount(spec.shape);
    const stored = tensor.kind === 'ternary' ? tensor.values.length : tensor.data.length;
    if (stored !== n) throw new BtttError('LENGTH_MISMATCH', `tensor ${spec.name}: ${stored} values for shape ${JSON.stringify(spec.shape)} (${n})`, { tensor: spec.name });
    const dtype: BtttDtype = spec.role === 'ternary' ? 't158' : spec.name === 'tok_embed' || spec.name === 'lm_head' ? embedDtype : 'f32';
    const blob = encodeTensor(spec.name, tensor, dtype);
    const offset = alignUp(dataEnd);
    entries.push({ name: spec.name, dtype, shape: spec.shape.slice(), offset, length: blob.length, crc32: crc32(blob) });
    blobs.push(blob);
    dataEnd = offset + blob.length;
  }

  let headerJson: string;
  try {
    headerJson = JSON.stringify({ config, tokenizer, metadata: model.metadata, tensors: entries });
  } catch (e) {
    throw new BtttError('HEADER_SCHEMA', `metadata cannot be written as JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const header = new TextEncoder().encode(headerJson);
  if (header.length > MAX_HEADER_BYTES) throw new BtttError('HEADER_TOO_LARGE', `header of ${header.length} bytes, the limit is ${MAX_HEADER_BYTES}`);
  const dataStart = dataStartFor(header.length);
  const file = new Uint8Array(dataStart + dataEnd);
  const view = new DataView(file.buffer);
  file.set(BTTT_MAGIC, 0);
  view.setUint32(4, BTTT_VERSION, true);
  view.setUint32(8, header.length, true);
  view.setUint32(12, crc32(header), true);
  file.set(header, PREAMBLE_BYTES);
  entries.forEach((e, i) => file.set(blobs[i]!, dataStart + e.offset));
  return file;
}
