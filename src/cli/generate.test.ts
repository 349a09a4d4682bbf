import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBttt } from '../engine/format/reader';
import { ReferenceModel } from '../engine/reference/model';
import { argmax } from '../engine/sampling';
import { Tokenizer } from '../engine/tokenizer/tokenizer';
import { DEFAULT_SAMPLING, type ModelFile } from '../engine/types';
import { generate } from './generate';

const TINY_TTT = 'public/models/tiny-ttt.bttt';
const TINY_KV = 'public/models/tiny-kv.bttt';
const load = (path: string) => parseBttt(new Uint8Array(readFileSync(path)));

describe('generate (CPU reference)', () => {
  for (const path of [TINY_TTT, TINY_KV]) {
    it(`greedy decoding of ${path} is the argmax chain of the reference model`, () => {
      const model = load(path);
      const result = generate(model, 'Once upon', { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1, maxTokens: 12, stopAtEot: false });
      const tokenizer = Tokenizer.fromSpec(model.tokenizer);
      const runtime = new ReferenceModel(model);
      let logits: Float32Array = new Float32Array(0);
      for (const id of tokenizer.encode('Once upon')) logits = runtime.step(id);
      const expected: number[] = [];
      for (let i = 0; i < 12; i++) {
        expected.push(argmax(logits));
        logits = runtime.step(expected[i]);
      }
      expect(result.tokens).toEqual(expected);
      expect(result.text).toBe(tokenizer.decode(expected));
      expect(result.stopReason).toBe('max-tokens');
    });
  }

  it('is reproducible from the seed and changes with it', () => {
    const model = load(TINY_TTT);
    const params = { ...DEFAULT_SAMPLING, temperature: 1.5, topK: 0, topP: 1, repetitionPenalty: 1.3, maxTokens: 16, stopAtEot: false };
    const a = generate(model, 'The cat', { ...params, seed: 5 });
    expect(generate(model, 'The cat', { ...params, seed: 5 })).toEqual(a);
    expect(generate(model, 'The cat', { ...params, seed: 6 }).tokens).not.toEqual(a.tokens);
  });

  it('stops at end-of-text and leaves it out of the tokens', () => {
    // The tiny model with an untied all-zero logits head: every id, end-of-text included, is drawn with p = 1/V, so
    // a short run draws end-of-text for some seeds (the random tiny head makes it too rare to find).
    const tiny = load(TINY_TTT);
    const { vocabSize: V, dModel: d } = tiny.config;
    const model: ModelFile = {
      ...tiny,
      config: { ...tiny.config, tieEmbeddings: false },
      tensors: new Map([...tiny.tensors, ['lm_head', { kind: 'float', shape: [V, d], data: new Float32Array(V * d) }]]),
    };
    const tokenizer = Tokenizer.fromSpec(model.tokenizer);
    const eot = tokenizer.eotId;
    const params = { ...DEFAULT_SAMPLING, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: 24 };
    // A fixed search (the same seed every run): the first seed whose run with stopAtEot off draws end-of-text after
    // at least one other token, so that the stop is certainly exercised and has something before it to keep.
    let seed = -1;
    let free: ReturnType<typeof generate> | null = null;
    for (let s = 0; s < 200 && seed < 0; s++) {
      const run = generate(model, '', { ...params, seed: s, stopAtEot: false });
      if (run.tokens.indexOf(eot) >= 1) {
        seed = s;
        free = run;
      }
    }
    expect(seed, 'a seed below 200 that draws end-of-text').toBeGreaterThanOrEqual(0);
    const at = free!.tokens.indexOf(eot);
    const stopped = generate(model, '', { ...params, seed });
    expect(stopped.stopReason).toBe('eot');
    expect(stopped.tokens).toEqual(free!.tokens.slice(0, at));
    expect(stopped.tokens).not.toContain(eot);
    expect(stopped.text).toBe(tokenizer.decode(stopped.tokens));
  });
});

describe('npm run generate (end to end)', () => {
  const cli = ['tsx', 'src/cli/generate.ts'];
  it('prints {text, tokens} as JSON', () => {
    const out = execFileSync('npx', [...cli, '--model', TINY_TTT, '--prompt', 'Hello', '--max-tokens', '6', '--temperature', '0.9', '--seed', '11', '--top-k', '20', '--top-p', '0.9', '--repetition-penalty', '1.2', '--json'], { encoding: 'utf8' });
    const result = JSON.parse(out) as { text: string; tokens: number[] };
    expect(result.tokens.length).toBeLessThanOrEqual(6);
    expect(result.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < 257)).toBe(true);
    const model = load(TINY_TTT);
    expect(result).toEqual(generate(model, 'Hello', { ...DEFAULT_SAMPLING, maxTokens: 6, temperature: 0.9, seed: 11, topK: 20, topP: 0.9, repetitionPenalty: 1.2 }));
  });

  it('a bad model file: one line on stderr, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'generate-test-'));
    const truncated = join(dir, 'truncated.bttt');
    writeFileSync(truncated, readFileSync(TINY_TTT).subarray(0, 200));
    const run = spawnSync('npx', [...cli, '--model', truncated, '--prompt', 'x'], { encoding: 'utf8' });
    rmSync(dir, { recursive: true });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/TRUNCATED/);
  });
});
