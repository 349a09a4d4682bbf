// Every error code of FORMAT.md's reject list, each triggered by one hand-made corruption of a valid file.
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32';
import { BTTT_ERROR_CODES, BtttError } from './errors';
import type { BtttErrorCode } from './errors';
import { parseBttt } from './reader';
import { assembleFile, editHeader, editTensorData, smallConfig, smallFile, smallModel, splitFile, tensorEntries } from './testkit';
import { writeBttt } from './writer';

const valid = smallFile(smallConfig('ttt'));

function codeOf(run: () => unknown): BtttErrorCode | 'no error' {
  try {
    run();
  } catch (e) {
    if (e instanceof BtttError) return e.code;
    throw e;
  }
  return 'no error';
}

const entry = (h: Record<string, unknown>, name: string) => tensorEntries(h).find((t) => t['name'] === name)!;
const config = (h: Record<string, unknown>) => h['config'] as Record<string, unknown>;
const tokenizer = (h: Record<string, unknown>) => h['tokenizer'] as Record<string, unknown>;
const withU32 = (file: Uint8Array, at: number, value: number) => {
  const copy = file.slice();
  new DataView(copy.buffer).setUint32(at, value, true);
  return copy;
};

const CASES: [BtttErrorCode, string, () => Uint8Array][] = [
  ['BAD_MAGIC', 'a PNG signature', () => Uint8Array.from([0x89, 0x50, 0x4e, 0x47, ...valid.subarray(4)])],
  ['BAD_MAGIC', 'a single wrong first byte', () => Uint8Array.from([0x41])],
  ['UNSUPPORTED_VERSION', 'version 2', () => withU32(valid, 4, 2)],
  ['TRUNCATED', 'the preamble cut', () => valid.slice(0, 10)],
  ['TRUNCATED', 'the header cut', () => valid.slice(0, 40)],
  ['TRUNCATED', 'the last byte missing', () => valid.slice(0, valid.length - 1)],
  ['TRAILING_DATA', 'one byte appended', () => Uint8Array.from([...valid, 0])],
  ['HEADER_TOO_LARGE', 'header length 2^24 + 1', () => withU32(valid, 8, 16 * 1024 * 1024 + 1)],
  ['HEADER_CHECKSUM', 'one header byte changed', () => {
    const copy = valid.slice();
    copy[20] = copy[20]! ^ 0x01;
    return copy;
  }],
  ['HEADER_JSON', 'not JSON', () => assembleFile('{"config": ', splitFile(valid).data)],
  ['HEADER_JSON', 'a JSON array', () => assembleFile('[1, 2]', splitFile(valid).data)],
  ['HEADER_JSON', 'invalid UTF-8', () => assembleFile(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), splitFile(valid).data)],
  ['HEADER_JSON', 'header length 1', () => withU32(valid, 8, 1)],
  ['HEADER_SCHEMA', 'config.dModel missing', () => editHeader(valid, (h) => void delete config(h)['dModel'])],
  ['HEADER_SCHEMA', 'config.nHeads a string', () => editHeader(valid, (h) => void (config(h)['nHeads'] = '2'))],
  ['HEADER_SCHEMA', 'dModel not a multiple of nHeads', () => editHeader(valid, (h) => void (config(h)['nHeads'] = 3))],
  ['HEADER_SCHEMA', 'a kv model with a ttt layer', () => editHeader(valid, (h) => void (config(h)['arch'] = 'kv'))],
  ['HEADER_SCHEMA', 'vocabSize that does not add up', () => editHeader(valid, (h) => void (config(h)['vocabSize'] = 260))],
  ['HEADER_SCHEMA', 'a merge using a later id', () => editHeader(valid, (h) => void ((tokenizer(h)['merges'] as number[][])[0] = [257, 1]))],
  ['HEADER_SCHEMA', 'a special with a merge id', () => editHeader(valid, (h) => void (tokenizer(h)['specials'] = { '<|endoftext|>': 257 }))],
  ['HEADER_SCHEMA', 'metadata an array', () => editHeader(valid, (h) => void (h['metadata'] = []))],
  ['HEADER_SCHEMA', 'config.attn not an object', () => editHeader(valid, (h) => void (config(h)['attn'] = 4))],
  ['HEADER_SCHEMA', 'config.attn.gate missing', () => editHeader(valid, (h) => void (config(h)['attn'] = { convKernel: 2 }))],
  ['HEADER_SCHEMA', 'config.attn.convKernel 17', () => editHeader(valid, (h) => void (config(h)['attn'] = { convKernel: 17, gate: false }))],
  ['MISSING_TENSOR', 'an attention conv declared, its tensors absent', () => editHeader(valid, (h) => void (config(h)['attn'] = { convKernel: 2, gate: false }))],
  ['HEADER_SCHEMA', 'crc32 negative', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['crc32'] = -1))],
  ['UNKNOWN_DTYPE', 'dtype bf16', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['dtype'] = 'bf16'))],
  ['BAD_SHAPE', 'a zero dimension', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['shape'] = [0]))],
  ['BAD_SHAPE', 'five dimensions', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['shape'] = [1, 1, 1, 1, 16]))],
  ['BAD_SHAPE', 'over 2^31 elements', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['shape'] = [65536, 65537]))],
  ['LENGTH_MISMATCH', 'length one short', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['length'] = 63))],
  ['OUT_OF_RANGE', 'a misaligned offset', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['offset'] = (entry(h, 'final_norm')['offset'] as number) + 4))],
  ['OUT_OF_RANGE', 'a negative offset', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['offset'] = -64))],
  ['OUT_OF_RANGE', 'overlapping tensors', () => editHeader(valid, (h) => void (entry(h, 'final_norm')['offset'] = entry(h, 'tok_embed')['offset']))],
  ['DUPLICATE_TENSOR', 'a tensor listed twice', () => editHeader(valid, (h) => void tensorEntries(h).push({ ...entry(h, 'final_norm'), offset: 1 << 20 }))],
  ['MISSING_TENSOR', 'final_norm dropped', () => editHeader(valid, (h) => void (h['tensors'] = tensorEntries(h).filter((t) => t['name'] !== 'final_norm')))],
  ['UNEXPECTED_TENSOR', 'lm_head with tied embeddings', () => editHeader(valid, (h) => void tensorEntries(h).push({ ...entry(h, 'tok_embed'), name: 'lm_head', offset: 1 << 20 }))],
  ['TENSOR_SHAPE', 'a transposed FFN weight', () => editHeader(valid, (h) => {
    const e = entry(h, 'l0.ffn.w1');
    e['shape'] = [16, 32];
  })],
  ['TENSOR_SHAPE', 'a norm stored as f16', () => editHeader(valid, (h) => {
    const e = entry(h, 'final_norm');
    e['dtype'] = 'f16';
    e['length'] = 32;
  })],
  ['TENSOR_CHECKSUM', 'a flipped data bit', () => {
    const copy = valid.slice();
    copy[copy.length - 1] = copy[copy.length - 1]! ^ 0x10;
    return copy;
  }],
  ['BAD_TRIT', 'a packed byte of 250', () => editTensorData(valid, 'l0.ffn.w2', (b) => void (b[10] = 250))],
  ['BAD_TRIT', 'a negative scale', () => editTensorData(valid, 'l0.ffn.w2', (b) => new DataView(b.buffer).setFloat32(0, -0.5, true))],
  ['BAD_TRIT', 'an infinite scale', () => editTensorData(valid, 'l0.ffn.w2', (b) => new DataView(b.buffer).setFloat32(0, Infinity, true))],
  ['NON_FINITE', 'NaN in an f32 norm', () => editTensorData(valid, 'final_norm', (b) => new DataView(b.buffer).setFloat32(8, NaN, true))],
  ['NON_FINITE', 'infinity in the f16 embedding', () => editTensorData(valid, 'tok_embed', (b) => new DataView(b.buffer).setUint16(6, 0xfc00, true))],
];

describe('parseBttt rejects each malformed file with its own code', () => {
  it('accepts the unmodified file', () => {
    expect(codeOf(() => parseBttt(valid))).toBe('no error');
    expect(crc32(valid)).not.toBe(0);
  });

  for (const [code, what, make] of CASES) {
    it(`${code}: ${what}`, () => {
      expect(codeOf(() => parseBttt(make()))).toBe(code);
    });
  }

  it('covers every error code', () => {
    expect(new Set(CASES.map(([code]) => code))).toEqual(new Set(BTTT_ERROR_CODES));
  });

  it('names the tensor and the file offset in data errors', () => {
    try {
      parseBttt(editTensorData(valid, 'l0.ffn.w2', (b) => void (b[10] = 250)));
      expect.unreachable();
    } catch (e) {
      const err = e as BtttError;
      expect(err.tensor).toBe('l0.ffn.w2');
      expect(err.message).toMatch(/^\[BAD_TRIT\] tensor l0\.ffn\.w2: packed byte 6 \(file offset \d+\) is 250/);
      expect(valid[err.offset!]).not.toBe(250);
    }
  });
});

describe('writeBttt rejects what the reader would reject', () => {
  it('refuses non-finite floats, values outside {-1,0,1}, missing tensors and f16 overflow', () => {
    const model = smallModel(smallConfig('kv'));
    const norm = model.tensors.get('final_norm')!;
    if (norm.kind === 'float') norm.data[0] = NaN;
    expect(codeOf(() => writeBttt(model))).toBe('NON_FINITE');

    const m2 = smallModel(smallConfig('kv'));
    const w = m2.tensors.get('l1.ffn.w1')!;
    if (w.kind === 'ternary') w.values[3] = 2;
    expect(codeOf(() => writeBttt(m2))).toBe('BAD_TRIT');

    const m3 = smallModel(smallConfig('kv'));
    m3.tensors.delete('l1.attn.wo');
    expect(codeOf(() => writeBttt(m3))).toBe('MISSING_TENSOR');

    const m4 = smallModel(smallConfig('kv'));
    const embed = m4.tensors.get('tok_embed')!;
    if (embed.kind === 'float') embed.data[0] = 1e6;
    expect(codeOf(() => writeBttt(m4))).toBe('NON_FINITE');
    expect(codeOf(() => writeBttt(m4, { embedDtype: 'f32' }))).toBe('no error');

    const m5 = smallModel(smallConfig('kv'));
    m5.config = { ...m5.config, vocabSize: 300 };
    expect(codeOf(() => writeBttt(m5))).toBe('HEADER_SCHEMA');
  });
});
