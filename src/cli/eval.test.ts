import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY_MODELS, tinyModel, tinyModelFiles } from '../engine/format/tiny';
import type { ModelFile } from '../engine/types';
import { EvalError, evaluateModel } from './eval';

const tinyTtt = () => tinyModel(TINY_MODELS.find((def) => def.config.arch === 'ttt')!);
const tinyKv = () => tinyModel(TINY_MODELS.find((def) => def.config.arch === 'kv')!);
const LETTERS = 'Once upon a time there was a cat who liked to nap in the sun';

describe('evaluateModel', () => {
  it('gives log2(V) bits per byte for a model whose logits are all equal', () => {
    const model: ModelFile = tinyTtt();
    const embedding = model.tensors.get('tok_embed')!;
    if (embedding.kind !== 'float') throw new Error('tok_embed must be a float tensor');
    embedding.data.fill(0); // tied head: every logit is 0, so p = 1/V for every token
    const result = evaluateModel(model, LETTERS);
    // Byte-level tokenizer: one byte per token, eot counted as one byte.
    expect(result.tokens).toBe(LETTERS.length);
    expect(result.bytes).toBe(LETTERS.length);
    expect(result.bpb).toBeCloseTo(Math.log2(model.config.vocabSize), 6);
    expect(result.loss).toBeCloseTo(Math.log(model.config.vocabSize), 6);
  });

  it('resets the state between windows and splits positions into buckets', () => {
    const model = tinyTtt();
    const twoWindows = evaluateModel(model, LETTERS, { context: 8, limitBytes: 17, buckets: 2 });
    expect(twoWindows.tokens).toBe(16);
    expect(twoWindows.windows).toBe(2);
    expect(twoWindows.byPosition.map(({ from, to, tokens }) => [from, to, tokens])).toEqual([[0, 4, 8], [4, 8, 8]]);
    // The second window must score exactly as the same 9 tokens evaluated on their own.
    const first = evaluateModel(model, LETTERS, { context: 8, limitBytes: 9 });
    const second = evaluateModel(model, LETTERS.slice(8), { context: 8, limitBytes: 9 });
    const totalNats = (r: { loss: number; tokens: number }) => r.loss * r.tokens;
    expect(totalNats(twoWindows)).toBeCloseTo(totalNats(first) + totalNats(second), 6);
    expect(twoWindows.bpb).toBeGreaterThan(0);
  });

  it('rejects contexts beyond an attention model\'s KV cache and texts too short to predict', () => {
    const kv = tinyKv();
    expect(() => evaluateModel(kv, LETTERS, { context: kv.config.maxContext + 1 })).toThrow(EvalError);
    expect(() => evaluateModel(kv, LETTERS, { limitBytes: 1 })).toThrow(/at least 2/);
    expect(() => evaluateModel(kv, LETTERS, { context: 4, buckets: 5 })).toThrow(/buckets/);
  });
});

describe('eval CLI', () => {
  const directory = mkdtempSync(join(tmpdir(), 'eval-cli-'));
  const textPath = join(directory, 'text.txt');
  writeFileSync(textPath, `${LETTERS}\n<|endoftext|>\n${LETTERS}\n<|endoftext|>\n`);
  const run = (args: string[]) => {
    try {
      return { code: 0, stdout: execFileSync('npx', ['tsx', 'src/cli/eval.ts', ...args], { encoding: 'utf8', stdio: 'pipe' }), stderr: '' };
    } catch (error) {
      const failed = error as { status: number; stdout: string; stderr: string };
      return { code: failed.status, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('prints bpb, tokens, bytes and byPosition as JSON for a model file', () => {
    const { file, bytes } = tinyModelFiles()[0]!;
    const modelPath = join(directory, file);
    writeFileSync(modelPath, bytes);
    const { code, stdout } = run(['--model', modelPath, '--data', textPath, '--context', '32', '--buckets', '2', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { bpb: number; tokens: number; bytes: number; byPosition: unknown[] };
    const storyBytes = LETTERS.length + 1; // each story's text plus its eot
    expect(report.tokens).toBe(2 * storyBytes - 1);
    expect(report.bytes).toBe(2 * storyBytes - 1);
    expect(report.bpb).toBeGreaterThan(0);
    expect(report.byPosition).toHaveLength(2);
  });

  it('fails with a clear message for a missing or malformed model file', () => {
    const missing = run(['--model', join(directory, 'nope.bttt'), '--data', textPath]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read model .*nope\.bttt/);
    const garbagePath = join(directory, 'garbage.bttt');
    writeFileSync(garbagePath, 'not a model file at all');
    const garbage = run(['--model', garbagePath, '--data', textPath]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/BAD_MAGIC/);
  });
});
