// Validation of the JSON header: every field's type, MATH.md's config rules (configProblem), the vocabulary
// arithmetic of FORMAT.md, and the tensor table against the tensors the config requires (expectedTensors).
import type { AttnConfig, MixerKind, ModelConfig, TokenizerSpec, TttConfig } from '../types';
import { configProblem, expectedTensors } from '../model/spec';
import { BtttError } from './errors';
import { BTTT_DTYPES, DATA_ALIGN, MAX_TENSOR_ELEMENTS, elementCount, tensorByteLength } from './layout';
import type { BtttDtype, TensorEntry } from './layout';

export interface BtttHeader {
  config: ModelConfig;
  tokenizer: TokenizerSpec;
  metadata: Record<string, unknown>;
  /** In the order the file lists them. */
  tensors: TensorEntry[];
}

/** Config dimensions beyond this are rejected before any arithmetic on them (no real model comes close). */
const MAX_DIMENSION = 2 ** 31 - 1;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function schema(detail: string): BtttError {
  return new BtttError('HEADER_SCHEMA', detail);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function field<T>(obj: Json, key: string, path: string, check: (v: unknown) => v is T, expected: string): T {
  const v = obj[key];
  if (!check(v)) throw schema(`${path}.${key} must be ${expected}, found ${describe(v)}`);
  return v;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isDimension = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_DIMENSION;
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isString = (v: unknown): v is string => typeof v === 'string';
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);

function parseTtt(v: unknown): TttConfig {
  if (!isObject(v)) throw schema(`config.ttt must be an object, found ${describe(v)}`);
  return {
    miniBatch: field(v, 'miniBatch', 'config.ttt', isDimension, 'a non-negative integer'),
    baseLr: field(v, 'baseLr', 'config.ttt', isNumber, 'a finite number'),
    convKernel: field(v, 'convKernel', 'config.ttt', isDimension, 'a non-negative integer'),
    shareQK: field(v, 'shareQK', 'config.ttt', isBoolean, 'a boolean'),
    gate: field(v, 'gate', 'config.ttt', isBoolean, 'a boolean'),
  };
}

function parseAttn(v: unknown): AttnConfig {
  if (!isObject(v)) throw schema(`config.attn must be an object, found ${describe(v)}`);
  return {
    convKernel: field(v, 'convKernel', 'config.attn', isDimension, 'a non-negative integer'),
    gate: field(v, 'gate', 'config.attn', isBoolean, 'a boolean'),
  };
}

/** The config in canonical key order (so that writing it again gives the same bytes). */
export function parseConfig(v: unknown): ModelConfig {
  if (!isObject(v)) throw schema(`config must be an object, found ${describe(v)}`);
  const arch = field(v, 'arch', 'config', isString, 'a string');
  if (arch !== 'ttt' && arch !== 'kv') throw schema(`config.arch must be "ttt" or "kv", found ${describe(arch)}`);
  const mixersRaw = field(v, 'mixers', 'config', isArray, 'an array');
  const mixers: MixerKind[] = mixersRaw.map((m, i) => {
    if (m !== 'ttt' && m !== 'attn' && m !== 'swa') throw schema(`config.mixers[${i}] must be "ttt", "attn" or "swa", found ${describe(m)}`);
    return m;
  });
  const config: ModelConfig = {
    arch,
    vocabSize: field(v, 'vocabSize', 'config', isDimension, 'a non-negative integer'),
    dModel: field(v, 'dModel', 'config', isDimension, 'a non-negative integer'),
    nLayers: field(v, 'nLayers', 'config', isDimension, 'a non-negative integer'),
    nHeads: field(v, 'nHeads', 'config', isDimension, 'a non-negative integer'),
    ffnHidden: field(v, 'ffnHidden', 'config', isDimension, 'a non-negative integer'),
    mixers,
    window: field(v, 'window', 'config', isDimension, 'a non-negative integer'),
    contextLength: field(v, 'contextLength', 'config', isDimension, 'a non-negative integer'),
    maxContext: field(v, 'maxContext', 'config', isDimension, 'a non-negative integer'),
    normEps: field(v, 'normEps', 'config', isNumber, 'a finite number'),
    ropeTheta: field(v, 'ropeTheta', 'config', isNumber, 'a finite number'),
    tieEmbeddings: field(v, 'tieEmbeddings', 'config', isBoolean, 'a boolean'),
    ttt: parseTtt(v['ttt']),
  };
  // Optional (MATH.md): files written before it existed have none and keep their exact bytes when rewritten.
  if (v['attn'] !== undefined) config.attn = parseAttn(v['attn']);
  const problem = configProblem(config);
  if (problem) throw schema(`config breaks MATH.md: ${problem}`);
  return config;
}

/** Checks FORMAT.md's id arithmetic: bytes, then merges (each made of earlier ids), then the specials. */
export function parseTokenizer(v: unknown, vocabSize: number): TokenizerSpec {
  if (!isObject(v)) throw schema(`tokenizer must be an object, found ${describe(v)}`);
  if (v['type'] !== 'bpe') throw schema(`tokenizer.type must be "bpe", found ${describe(v['type'])}`);
  const mergesRaw = field(v, 'merges', 'tokenizer', isArray, 'an array');
  const merges: [number, number][] = mergesRaw.map((pair, j) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw schema(`tokenizer.merges[${j}] must be a pair of ids, found ${describe(pair)}`);
    const limit = 256 + j;
    for (const id of pair) {
      if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= limit) {
        throw schema(`tokenizer.merges[${j}] holds ${describe(id)}, must be an id below ${limit} (a byte or an earlier merge)`);
      }
    }
    return [pair[0] as number, pair[1] as number];
  });
  const specialsRaw = field(v, 'specials', 'tokenizer', isObject, 'an object');
  const firstSpecial = 256 + merges.length;
  const entries = Object.entries(specialsRaw);
  const seen = new Set<number>();
  for (const [name, id] of entries) {
    if (name.length === 0) throw schema('tokenizer.specials has an empty name');
    if (!Number.isSafeInteger(id) || (id as number) < firstSpecial || (id as number) >= firstSpecial + entries.length || seen.has(id as number)) {
      throw schema(
        `tokenizer.specials[${JSON.stringify(name)}] is ${describe(id)}; specials must take the ids ${firstSpecial}..${firstSpecial + entries.length - 1}, each once`,
      );
    }
    seen.add(id as number);
  }
  const expectedVocab = firstSpecial + entries.length;
  if (expectedVocab !== vocabSize) {
    throw schema(`config.vocabSize is ${vocabSize} but the tokenizer has 256 bytes + ${merges.length} merges + ${entries.length} specials = ${expectedVocab}`);
  }
  return { type: 'bpe', merges, specials: Object.fromEntries(entries) as Record<string, number> };
}

function parseTensorEntry(v: unknown, index: number): TensorEntry {
  if (!isObject(v)) throw schema(`tensors[${index}] must be an object, found ${describe(v)}`);
  const name = v['name'];
  if (typeof name !== 'string' || name.length === 0) throw schema(`tensors[${index}].name must be a non-empty string, found ${describe(name)}`);
  const where = `tensor ${name}`;
  const ctx = { tensor: name };
  const dtype = v['dtype'];
  if (typeof dtype !== 'string') throw new BtttError('HEADER_SCHEMA', `${where}: dtype must be a string, found ${describe(dtype)}`, ctx);
  if (!(BTTT_DTYPES as readonly string[]).includes(dtype)) {
    throw new BtttError('UNKNOWN_DTYPE', `${where}: dtype ${JSON.stringify(dtype)} is not one of ${BTTT_DTYPES.join(', ')}`, ctx);
  }
  const shape = v['shape'];
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4 || !shape.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) {
    throw new BtttError('BAD_SHAPE', `${where}: shape must be 1–4 positive integers, found ${JSON.stringify(shape) ?? 'nothing'}`, ctx);
  }
  const n = elementCount(shape as number[]);
  if (n > MAX_TENSOR_ELEMENTS) throw new BtttError('BAD_SHAPE', `${where}: shape ${JSON.stringify(shape)} has ${n} elements, over 2^31`, ctx);
  for (const key of ['offset', 'length'] as const) {
    const x = v[key];
    if (typeof x !== 'number') throw new BtttError('HEADER_SCHEMA', `${where}: ${key} must be a number, found ${describe(x)}`, ctx);
    if (!Number.isSafeInteger(x) || x < 0) throw new BtttError('OUT_OF_RANGE', `${where}: ${key} ${x} is not a non-negative integer`, ctx);
  }
  const offset = v['offset'] as number;
  const length = v['length'] as number;
  const crc = v['crc32'];
  if (!Number.isSafeInteger(crc) || (crc as number) < 0 || (crc as number) > 0xffffffff) {
    throw new BtttError('HEADER_SCHEMA', `${where}: crc32 must be an integer in 0..2^32-1, found ${describe(crc)}`, ctx);
  }
  const expectedLength = tensorByteLength(dtype as BtttDtype, n);
  if (length !== expectedLength) {
    throw new BtttError('LENGTH_MISMATCH', `${where}: length is ${length} but ${dtype} ${JSON.stringify(shape)} takes ${expectedLength} bytes`, ctx);
  }
  if (offset % DATA_ALIGN !== 0) throw new BtttError('OUT_OF_RANGE', `${where}: offset ${offset} is not a multiple of ${DATA_ALIGN}`, ctx);
  return { name, dtype: dtype as BtttDtype, shape: (shape as number[]).slice(), offset, length, crc32: crc as number };
}

/** Dtypes MATH.md allows for a tensor of the given role and name. */
function allowedDtypes(name: string, role: 'float' | 'ternary'): BtttDtype[] {
  if (role === 'ternary') return ['t158'];
  return name === 'tok_embed' || name === 'lm_head' ? ['f16', 'f32'] : ['f32'];
}

function parseTensorTable(v: unknown, config: ModelConfig): TensorEntry[] {
  if (!Array.isArray(v)) throw schema(`tensors must be an array, found ${describe(v)}`);
  const entries = v.map(parseTensorEntry);
  const byName = new Map<string, TensorEntry>();
  for (const e of entries) {
    if (byName.has(e.name)) throw new BtttError('DUPLICATE_TENSOR', `tensor ${e.name} is listed twice`, { tensor: e.name });
    byName.set(e.name, e);
  }
  const sorted = entries.slice().sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.offset + prev.length > cur.offset) {
      throw new BtttError(
        'OUT_OF_RANGE',
        `tensor ${cur.name} (data offset ${cur.offset}) overlaps tensor ${prev.name} (data bytes ${prev.offset}..${prev.offset + prev.length})`,
        { tensor: cur.name },
      );
    }
  }
  const expected = expectedTensors(config);
  const expectedNames = new Set(expected.map((s) => s.name));
  for (const spec of expected) {
    const e = byName.get(spec.name);
    if (!e) throw new BtttError('MISSING_TENSOR', `tensor ${spec.name} is required by the config but not in the file`, { tensor: spec.name });
    if (e.shape.length !== spec.shape.length || e.shape.some((d, i) => d !== spec.shape[i])) {
      throw new BtttError('TENSOR_SHAPE', `tensor ${spec.name}: shape ${JSON.stringify(e.shape)}, the config requires ${JSON.stringify(spec.shape)}`, {
        tensor: spec.name,
      });
    }
    const allowed = allowedDtypes(spec.name, spec.role);
    if (!allowed.includes(e.dtype)) {
      throw new BtttError('TENSOR_SHAPE', `tensor ${spec.name}: dtype ${e.dtype}, MATH.md requires ${allowed.join(' or ')}`, { tensor: spec.name });
    }
  }
  for (const e of entries) {
    if (!expectedNames.has(e.name)) throw new BtttError('UNEXPECTED_TENSOR', `tensor ${e.name} is not part of this config's model`, { tensor: e.name });
  }
  return entries;
}

/** Validates a parsed header JSON value. */
export function parseHeaderObject(v: unknown): BtttHeader {
  if (!isObject(v)) throw new BtttError('HEADER_JSON', `the header must be a JSON object, found ${describe(v)}`);
  const config = parseConfig(v['config']);
  const tokenizer = parseTokenizer(v['tokenizer'], config.vocabSize);
  const metadataRaw = v['metadata'];
  if (metadataRaw !== undefined && !isObject(metadataRaw)) throw schema(`metadata must be an object when present, found ${describe(metadataRaw)}`);
  const metadata = metadataRaw ?? {};
  const tensors = parseTensorTable(v['tensors'], config);
  return { config, tokenizer, metadata, tensors };
}
