// The .bttt reader (docs/FORMAT.md): a whole buffer (parseBttt), a stream with progress (readBtttStream), or
// only the header (readBtttHeader). Every malformed input ends in a BtttError naming the rule it broke.
import type { FloatTensor, ModelFile, Tensor, TernaryTensor } from '../types';
import { expectedTensors } from '../model/spec';
import { crc32 } from './crc32';
import { BtttError } from './errors';
import { f16IsNonFinite, f16BitsToF32 } from './f16';
import type { BtttHeader } from './header';
import { parseHeaderObject } from './header';
import { BTTT_MAGIC, BTTT_VERSION, MAX_HEADER_BYTES, MIN_HEADER_BYTES, PREAMBLE_BYTES, dataStartFor, elementCount } from './layout';
import type { TensorEntry } from './layout';
import { unpackTrits } from './trits';

export interface BtttHeaderInfo extends BtttHeader {
  version: number;
  headerLength: number;
  /** File offset of the tensor data. */
  dataStart: number;
  /** The exact size the file must have. */
  totalBytes: number;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * Checks as much of the 16-byte preamble as `bytes` holds (a stream's first chunks may be shorter), so that
 * a wrong file fails on its first bytes. Returns the header length once 12 bytes are there.
 */
function checkPreamblePrefix(bytes: Uint8Array): number | undefined {
  for (let i = 0; i < Math.min(bytes.length, BTTT_MAGIC.length); i++) {
    if (bytes[i] !== BTTT_MAGIC[i]) {
      const found = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new BtttError('BAD_MAGIC', `not a .bttt file: the first bytes are ${found}, expected 42 54 54 54 ("BTTT")`, { offset: i });
    }
  }
  if (bytes.length < 8) return undefined;
  const version = readU32(bytes, 4);
  if (version !== BTTT_VERSION) {
    throw new BtttError('UNSUPPORTED_VERSION', `format version ${version}, this reader supports version ${BTTT_VERSION}`, { offset: 4 });
  }
  if (bytes.length < 12) return undefined;
  const headerLength = readU32(bytes, 8);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new BtttError('HEADER_TOO_LARGE', `header length ${headerLength} bytes, the limit is ${MAX_HEADER_BYTES}`, { offset: 8 });
  }
  if (headerLength < MIN_HEADER_BYTES) {
    throw new BtttError('HEADER_JSON', `header length ${headerLength} bytes cannot hold a JSON object`, { offset: 8 });
  }
  return headerLength;
}

/** Parses and validates the preamble and header; `bytes` must hold at least the first 16 + HL bytes. */
function parseHeaderBytes(bytes: Uint8Array): BtttHeaderInfo {
  const headerLength = checkPreamblePrefix(bytes);
  if (headerLength === undefined || bytes.length < PREAMBLE_BYTES) {
    throw new BtttError('TRUNCATED', `the file ends after ${bytes.length} bytes, inside the ${PREAMBLE_BYTES}-byte preamble`, { offset: bytes.length });
  }
  const headerEnd = PREAMBLE_BYTES + headerLength;
  if (bytes.length < headerEnd) {
    throw new BtttError('TRUNCATED', `the file ends after ${bytes.length} bytes, inside the header that ends at byte ${headerEnd}`, { offset: bytes.length });
  }
  const headerBytes = bytes.subarray(PREAMBLE_BYTES, headerEnd);
  const storedCrc = readU32(bytes, 12);
  const actualCrc = crc32(headerBytes);
  if (storedCrc !== actualCrc) {
    throw new BtttError('HEADER_CHECKSUM', `header CRC-32 is ${hex(actualCrc)}, the preamble says ${hex(storedCrc)}`, { offset: 12 });
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new BtttError('HEADER_JSON', `the header is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`, { offset: PREAMBLE_BYTES });
  }
  const header = parseHeaderObject(json);
  const dataStart = dataStartFor(headerLength);
  const dataEnd = header.tensors.reduce((end, t) => Math.max(end, t.offset + t.length), 0);
  return { ...header, version: BTTT_VERSION, headerLength, dataStart, totalBytes: dataStart + dataEnd };
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/**
 * The header of a .bttt file, validated (config, tokenizer, tensor table), from a buffer that holds at least
 * the preamble and the header: cheap inspection without decoding tensors.
 */
export function readBtttHeader(bytes: Uint8Array): BtttHeaderInfo {
  return parseHeaderBytes(bytes);
}

function checkFileLength(bytes: Uint8Array, info: BtttHeaderInfo): void {
  if (bytes.length < info.totalBytes) {
    throw new BtttError('TRUNCATED', `the file has ${bytes.length} bytes, its header declares ${info.totalBytes}`, { offset: bytes.length });
  }
  if (bytes.length > info.totalBytes) {
    throw new BtttError('TRAILING_DATA', `the file has ${bytes.length} bytes, ${bytes.length - info.totalBytes} more than the ${info.totalBytes} its header declares`, {
      offset: info.totalBytes,
    });
  }
}

function decodeTensor(bytes: Uint8Array, entry: TensorEntry, dataStart: number): Tensor {
  const start = dataStart + entry.offset;
  const raw = bytes.subarray(start, start + entry.length);
  const ctx = { tensor: entry.name, offset: start };
  const actualCrc = crc32(raw);
  if (actualCrc !== entry.crc32) {
    throw new BtttError('TENSOR_CHECKSUM', `tensor ${entry.name}: CRC-32 is ${hex(actualCrc)}, the header says ${hex(entry.crc32)}`, ctx);
  }
  const n = elementCount(entry.shape);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (entry.dtype === 't158') {
    const scale = view.getFloat32(0, true);
    if (!Number.isFinite(scale) || scale < 0) throw new BtttError('BAD_TRIT', `tensor ${entry.name}: scale ${scale} must be finite and ≥ 0`, ctx);
    const values = unpackTrits(raw.subarray(4), n, { tensor: entry.name, fileOffset: start + 4 });
    const t: TernaryTensor = { kind: 'ternary', shape: entry.shape.slice(), scale, values };
    return t;
  }
  let data: Float32Array;
  if (entry.dtype === 'f32') {
    data = LITTLE_ENDIAN_HOST ? new Float32Array(raw.slice().buffer) : Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
  } else {
    data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const bits = raw[2 * i]! | (raw[2 * i + 1]! << 8);
      if (f16IsNonFinite(bits)) {
        throw new BtttError('NON_FINITE', `tensor ${entry.name}: element ${i} (file offset ${start + 2 * i}) is ${f16BitsToF32(bits)}`, {
          tensor: entry.name,
          offset: start + 2 * i,
        });
      }
      data[i] = f16BitsToF32(bits);
    }
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new BtttError('NON_FINITE', `tensor ${entry.name}: element ${i} (file offset ${start + 4 * i}) is ${data[i]}`, {
        tensor: entry.name,
        offset: start + 4 * i,
      });
    }
  }
  const t: FloatTensor = { kind: 'float', shape: entry.shape.slice(), data };
  return t;
}

function decodeModel(bytes: Uint8Array, info: BtttHeaderInfo): ModelFile {
  checkFileLength(bytes, info);
  const byName = new Map(info.tensors.map((t) => [t.name, t]));
  const tensors = new Map<string, Tensor>();
  // Canonical order (MATH.md's table) whatever order the file lists them in.
  for (const spec of expectedTensors(info.config)) tensors.set(spec.name, decodeTensor(bytes, byName.get(spec.name)!, info.dataStart));
  return { config: info.config, tokenizer: info.tokenizer, metadata: info.metadata, tensors, fileBytes: bytes.length };
}

/** Parses a whole .bttt file. */
export function parseBttt(bytes: Uint8Array): ModelFile {
  return decodeModel(bytes, parseHeaderBytes(bytes));
}

/** Parses a whole .bttt file and also returns its header information (tensor table, sizes). */
export function parseBtttWithHeader(bytes: Uint8Array): { model: ModelFile; header: BtttHeaderInfo } {
  const header = parseHeaderBytes(bytes);
  return { model: decodeModel(bytes, header), header };
}

export interface ReadStreamOptions {
  /** The expected size (e.g. Content-Length), used for progress until the header declares the exact size. */
  totalBytes?: number;
  /** Called after every chunk with the bytes read so far; monotone, the last call has bytesRead === totalBytes. */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  signal?: AbortSignal;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The read was aborted', 'AbortError');
}

/** The first `length` bytes of the concatenated chunks. */
function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    if (at >= length) break;
    const take = Math.min(c.length, length - at);
    out.set(take === c.length ? c : c.subarray(0, take), at);
    at += take;
  }
  return out;
}

type ChunkReader = { next(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> };

function chunkReader(source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): ChunkReader {
  if (typeof (source as ReadableStream<Uint8Array>).getReader === 'function') {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    return {
      next: async () => {
        const r = await reader.read();
        return r.done ? { done: true } : { done: false, value: r.value };
      },
      cancel: () => reader.cancel().catch(() => undefined),
    };
  }
  const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  return {
    next: async () => {
      const r = await it.next();
      return r.done ? { done: true } : { done: false, value: r.value };
    },
    cancel: async () => {
      await it.return?.().catch(() => undefined);
    },
  };
}

/**
 * Reads a .bttt file from a stream, validating the preamble and header as soon as their bytes arrive and
 * buffering nothing beyond the size the header declares. Errors of the source itself and aborts (the
 * signal's reason, an AbortError by default) propagate unchanged; everything about the bytes is a BtttError.
 */
export async function readBtttStream(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: ReadStreamOptions = {},
): Promise<{ model: ModelFile; bytes: Uint8Array }> {
  const { signal, onProgress } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const reader = chunkReader(source);
  let abortListener: (() => void) | undefined;
  const aborted = signal
    ? new Promise<never>((_, reject) => {
        abortListener = () => reject(abortReason(signal));
        signal.addEventListener('abort', abortListener, { once: true });
      })
    : undefined;
  aborted?.catch(() => undefined); // rejection is observed through the race below
  const nextChunk = () => (aborted ? Promise.race([reader.next(), aborted]) : reader.next());

  let bytesRead = 0;
  let finished = false;
  try {
    // Phase 1: the preamble and the header, kept as a list of chunks.
    const headChunks: Uint8Array[] = [];
    let headerLength: number | undefined;
    let info: BtttHeaderInfo | undefined;
    let head: Uint8Array = new Uint8Array(0);
    while (!info) {
      const r = await nextChunk();
      if (r.done) {
        head = concat(headChunks, bytesRead);
        parseHeaderBytes(head); // throws BAD_MAGIC/…/TRUNCATED for what arrived
        throw new BtttError('TRUNCATED', `the stream ended after ${bytesRead} bytes, inside the header`, { offset: bytesRead });
      }
      const chunk = r.value!;
      if (chunk.length === 0) continue;
      headChunks.push(chunk);
      bytesRead += chunk.length;
      if (headerLength === undefined) {
        head = concat(headChunks, Math.min(bytesRead, PREAMBLE_BYTES));
        headerLength = checkPreamblePrefix(head);
      }
      if (headerLength !== undefined && bytesRead >= PREAMBLE_BYTES + headerLength) {
        head = concat(headChunks, bytesRead);
        headChunks.length = 0;
        info = parseHeaderBytes(head);
      } else {
        onProgress?.(bytesRead, opts.totalBytes);
      }
    }

    // Phase 2: the data, straight into a buffer of the declared size.
    const total = info.totalBytes;
    if (head.length > total) {
      throw new BtttError('TRAILING_DATA', `the stream holds more than the ${total} bytes its header declares`, { offset: total });
    }
    let file: Uint8Array;
    try {
      file = new Uint8Array(total);
    } catch {
      throw new BtttError('OUT_OF_RANGE', `the header declares a file of ${total} bytes, more than can be allocated here`);
    }
    file.set(head);
    onProgress?.(bytesRead, total);
    for (;;) {
      const r = await nextChunk();
      if (r.done) break;
      const chunk = r.value!;
      if (chunk.length === 0) continue;
      if (bytesRead + chunk.length > total) {
        throw new BtttError('TRAILING_DATA', `the stream holds more than the ${total} bytes its header declares`, { offset: total });
      }
      file.set(chunk, bytesRead);
      bytesRead += chunk.length;
      onProgress?.(bytesRead, total);
    }
    if (bytesRead < total) {
      throw new BtttError('TRUNCATED', `the stream ended after ${bytesRead} bytes, its header declares ${total}`, { offset: bytesRead });
    }
    finished = true;
    return { model: decodeModel(file, info), bytes: file };
  } finally {
    if (signal && abortListener) signal.removeEventListener('abort', abortListener);
    if (!finished) await reader.cancel();
  }
}
