import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBttt } from '../engine/format/reader';
import { ReferenceModel } from '../engine/reference/model';
import { argmax } from '../engine/sampling';
import { Tokenizer } from '../engine/tokenizer/tokenizer';
import { DEFAULT_SAMPLING } from '../engine/types';
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
    const model = load(TINY_TTT);
    const eot = Tokenizer.fromSpec(model.tokenizer).eotId;
    // With stopAtEot off the same seed shows where eot was drawn.
    const params = { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1, maxTokens: 8 };
    const free = generate(model, '', { ...params, stopAtEot: false });
    const stopped = generate(model, '', params);
    const at = free.tokens.indexOf(eot);
    if (at >= 0) {
      expect(stopped.tokens).toEqual(free.tokens.slice(0, at));
      expect(stopped.stopReason).toBe('eot');
    } else {
      expect(stopped.tokens).toEqual(free.tokens);
    }
    expect(stopped.tokens).not.toContain(eot);
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
