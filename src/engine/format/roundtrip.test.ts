import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ModelConfig, ModelFile } from '../types';
import { expectedTensors } from '../model/spec';
import { roundToF16 } from './f16';
import { parseBttt, readBtttHeader } from './reader';
import { modelStats } from './stats';
import { smallConfig, smallModel } from './testkit';
import { TINY_MODELS, tinyModelFiles } from './tiny';
import { writeBttt } from './writer';

function expectSameModel(actual: ModelFile, expected: ModelFile, embedRounding: (v: number) => number): void {
  expect(actual.config).toEqual(expected.config);
  expect(actual.tokenizer).toEqual(expected.tokenizer);
  expect(actual.metadata).toEqual(expected.metadata);
  expect([...actual.tensors.keys()]).toEqual(expectedTensors(expected.config).map((s) => s.name));
  for (const [name, want] of expected.tensors) {
    const got = actual.tensors.get(name)!;
    expect(got.kind, name).toBe(want.kind);
    expect(got.shape, name).toEqual(want.shape);
    if (want.kind === 'ternary' && got.kind === 'ternary') {
      expect(got.scale, name).toBe(Math.fround(want.scale));
      expect(got.values, name).toEqual(want.values);
    } else if (want.kind === 'float' && got.kind === 'float') {
      const round = name === 'tok_embed' || name === 'lm_head' ? embedRounding : (v: number) => v;
      expect(got.data, name).toEqual(Float32Array.from(want.data, round));
    }
  }
}

const VARIANTS: [string, ModelConfig][] = [
  ['ttt (ttt + swa, shareQK, gate)', smallConfig('ttt')],
  ['kv', smallConfig('kv')],
  ['ttt without shareQK, gate, conv; untied head', smallConfig('ttt', { mixers: ['ttt', 'ttt'], tieEmbeddings: false, ttt: { miniBatch: 4, baseLr: 0.5, convKernel: 0, shareQK: false, gate: false } })],
  ['kv untied, 3 layers', smallConfig('kv', { nLayers: 3, mixers: ['attn', 'attn', 'attn'], tieEmbeddings: false })],
  ['kv with attention conv + gate', smallConfig('kv', { attn: { convKernel: 3, gate: true } })],
  ['ttt + swa with attention conv, no gate', smallConfig('ttt', { attn: { convKernel: 2, gate: false } })],
];

describe('writeBttt → parseBttt', () => {
  for (const [label, config] of VARIANTS) {
    it(`round-trips a random ${label} model (f16 embeddings by default, f32 on request)`, () => {
      const model = smallModel(config, 42);
      const file = writeBttt(model);
      const back = parseBttt(file);
      expect(back.fileBytes).toBe(file.length);
      expectSameModel(back, model, roundToF16);
      // After the first write the values are representable: writing again gives the same bytes.
      expect(Buffer.from(writeBttt(back)).equals(Buffer.from(file))).toBe(true);

      const file32 = writeBttt(model, { embedDtype: 'f32' });
      expectSameModel(parseBttt(file32), model, (v) => v);
      expect(file32.length).toBeGreaterThan(file.length);
    });
  }

  it('lays tensors out 64-byte aligned, in MATH.md order, ending the file exactly', () => {
    const file = writeBttt(smallModel(smallConfig('ttt')));
    const info = readBtttHeader(file);
    expect(info.dataStart % 64).toBe(0);
    expect(info.tensors.map((t) => t.name)).toEqual(expectedTensors(info.config).map((s) => s.name));
    for (const t of info.tensors) expect(t.offset % 64).toBe(0);
    expect(info.totalBytes).toBe(file.length);
    expect(info.tensors.find((t) => t.name === 'tok_embed')!.dtype).toBe('f16');
    expect(info.tensors.find((t) => t.name === 'final_norm')!.dtype).toBe('f32');
  });
});

describe('tiny models', () => {
  it('are deterministic and match the committed public/models files', () => {
    const first = tinyModelFiles();
    const second = tinyModelFiles();
    expect(second.map((f) => f.file)).toEqual(first.map((f) => f.file));
    first.forEach(({ file, bytes }, i) => {
      expect(Buffer.from(second[i]!.bytes).equals(Buffer.from(bytes)), `${file} differs between two builds`).toBe(true);
      const committed = readFileSync(fileURLToPath(new URL(`../../../public/models/${file}`, import.meta.url)));
      expect(committed.equals(Buffer.from(bytes)), `${file} is stale: run npm run make-tiny-models`).toBe(true);
    });
  });

  it('have the configs of the brief and sensible statistics', () => {
    for (const { file, bytes } of tinyModelFiles()) {
      const def = TINY_MODELS.find((d) => d.file === file)!;
      const model = parseBttt(bytes);
      expect(model.config).toEqual(def.config);
      expect(model.metadata).toMatchObject({ name: def.name, createdBy: 'scripts/make-tiny-models.ts', seed: def.seed });
      const stats = modelStats(model, readBtttHeader(bytes).tensors);
      // 3 layers × (4 d×d mixer matrices, 5 with a gate + 3 d×F FFN matrices), d 64, F 192.
      const mixerMatrices = def.config.attn?.gate ? 5 : 4; // tiny-ttt: wqk, wv, wo, wg; tiny-kv: wq, wk, wv, wo; tiny-kv-conv: + wg
      expect(stats.ternaryParams).toBe(3 * (mixerMatrices * 64 * 64 + 3 * 64 * 192));
      expect(stats.bitsPerTernaryWeight).toBeGreaterThan(1.6);
      expect(stats.bitsPerTernaryWeight).toBeLessThan(1.61);
      expect(stats.fileBytes).toBe(bytes.length);
      expect(modelStats(model)).toEqual(stats); // lengths from shapes agree with the header's table
    }
  });
});
