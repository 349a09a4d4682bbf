// Helpers for tests that build small models and hand-made corrupt files (used by the format tests; other
// engineers' tests may use them too). Edits keep checksums valid unless asked not to, so that a test reaches
// the rule it aims at instead of failing on a checksum first.
import type { ModelConfig, ModelFile, TokenizerSpec } from '../types';
import { randomModel } from '../model/random';
import { crc32 } from './crc32';
import { BTTT_MAGIC, PREAMBLE_BYTES, dataStartFor } from './layout';
import { readBtttHeader } from './reader';
import { writeBttt } from './writer';
import type { WriteOptions } from './writer';

export const SMALL_TOKENIZER: TokenizerSpec = { type: 'bpe', merges: [[104, 101], [256, 108]], specials: { '<|endoftext|>': 258 } };

/** A small valid config (d 16, 2 heads, 2 layers); `arch` picks the mixers unless `overrides.mixers` is given. */
export function smallConfig(arch: 'ttt' | 'kv', overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    arch,
    vocabSize: 259,
    dModel: 16,
    nLayers: 2,
    nHeads: 2,
    ffnHidden: 32,
    mixers: arch === 'ttt' ? ['ttt', 'swa'] : ['attn', 'attn'],
    window: 4,
    contextLength: 16,
    maxContext: 32,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: true,
    ttt: { miniBatch: 4, baseLr: 1.0, convKernel: 2, shareQK: true, gate: true },
    ...overrides,
  };
}

export function smallModel(config: ModelConfig, seed = 7): ModelFile {
  const model = randomModel(config, SMALL_TOKENIZER, seed);
  model.metadata = { name: 'small-test', seed };
  return model;
}

export function smallFile(config: ModelConfig, seed = 7, opts?: WriteOptions): Uint8Array {
  return writeBttt(smallModel(config, seed), opts);
}

/** Splits a valid file into its header JSON object and its data section. */
export function splitFile(file: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const info = readBtttHeader(file);
  const json = new TextDecoder().decode(file.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + info.headerLength));
  return { header: JSON.parse(json) as Record<string, unknown>, data: file.slice(info.dataStart) };
}

/** A file from header text and a data section, with a correct preamble (CRC included) and padding. */
export function assembleFile(headerText: string | Uint8Array, data: Uint8Array, opts: { version?: number; crc?: number } = {}): Uint8Array {
  const header = typeof headerText === 'string' ? new TextEncoder().encode(headerText) : headerText;
  const dataStart = dataStartFor(header.length);
  const file = new Uint8Array(dataStart + data.length);
  const view = new DataView(file.buffer);
  file.set(BTTT_MAGIC, 0);
  view.setUint32(4, opts.version ?? 1, true);
  view.setUint32(8, header.length, true);
  view.setUint32(12, opts.crc ?? crc32(header), true);
  file.set(header, PREAMBLE_BYTES);
  file.set(data, dataStart);
  return file;
}

/** Rewrites a valid file's header through `edit` (which may mutate the object or return a new value). */
export function editHeader(file: Uint8Array, edit: (header: Record<string, unknown>) => unknown): Uint8Array {
  const { header, data } = splitFile(file);
  const result = edit(header);
  return assembleFile(JSON.stringify(result === undefined ? header : result), data);
}

/** The tensor entries of a header object (as JSON values). */
export function tensorEntries(header: Record<string, unknown>): Record<string, unknown>[] {
  return header['tensors'] as Record<string, unknown>[];
}

/**
 * Changes bytes of one tensor's stored data (`edit` gets a copy of them) and writes the matching CRC into
 * the header, so that the value checks behind the checksum are reached.
 */
export function editTensorData(file: Uint8Array, name: string, edit: (bytes: Uint8Array) => void): Uint8Array {
  const { header, data } = splitFile(file);
  const entry = tensorEntries(header).find((t) => t['name'] === name);
  if (!entry) throw new Error(`no tensor ${name}`);
  const start = entry['offset'] as number;
  const bytes = data.slice(start, start + (entry['length'] as number));
  edit(bytes);
  data.set(bytes, start);
  entry['crc32'] = crc32(bytes);
  return assembleFile(JSON.stringify(header), data);
}
