import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY_MODELS, TINY_TOKENIZER, tinyModel, tinyModelFiles } from '../engine/format/tiny';
import { makeRecallProbe, type RecallItem } from '../engine/diagnostics/recallProbe';
import { ReferenceModel } from '../engine/reference/model';
import { Tokenizer } from '../engine/tokenizer/tokenizer';
import type { ModelFile } from '../engine/types';
import { EvalError, evaluateModel, evaluateRecall, loadRecallProbe, readTwice, scoreRecallItems, splitStories } from './eval';

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

describe('memory off', () => {
  it('keeps every TTT state at w_init and changes a tiny TTT model\'s logits and loss', () => {
    const model = tinyTtt();
    const on = new ReferenceModel(model);
    const off = new ReferenceModel(model);
    off.setMemory(false);
    const ids = Array.from(LETTERS.slice(0, 20), (ch) => ch.charCodeAt(0));
    let largest = 0;
    for (const id of ids) {
      const a = on.step(id);
      const b = off.step(id);
      for (let v = 0; v < a.length; v++) largest = Math.max(largest, Math.abs(a[v]! - b[v]!));
    }
    expect(largest).toBeGreaterThan(1e-3);
    const wInit = model.tensors.get('l0.ttt.w_init')!;
    if (wInit.kind !== 'float') throw new Error('w_init must be a float tensor');
    const state = off.tttState(0);
    expect(Array.from(state.Wbar)).toEqual(Array.from(wInit.data));
    expect(Array.from(state.W0)).toEqual(Array.from(wInit.data));
    expect(state.GW.every((g) => g === 0)).toBe(true);
    expect(on.tttState(0).Wbar.some((w, i) => w !== wInit.data[i])).toBe(true);

    const lossOn = evaluateModel(model, LETTERS);
    const lossOff = evaluateModel(model, LETTERS, { memory: 'off' });
    expect(lossOn.memory).toBe('on');
    expect(lossOff.memory).toBe('off');
    expect(Math.abs(lossOff.loss - lossOn.loss)).toBeGreaterThan(1e-4);
  });

  it('is refused for a model without TTT layers', () => {
    expect(() => evaluateModel(tinyKv(), LETTERS, { memory: 'off' })).toThrow(/no TTT|needs TTT layers/);
    expect(() => readTwice(tinyKv(), LETTERS, { memory: 'off' })).toThrow(EvalError);
    expect(() => new ReferenceModel(tinyKv()).setMemory(false)).toThrow(/no TTT layer/);
  });
});

describe('readTwice', () => {
  const storyA = 'Once upon a time there was a cat.';
  const storyB = 'The sun was warm and the sky was blue.';
  const text = `${storyA}\n<|endoftext|>\n\n<|endoftext|>\n  ${storyB}  \n<|endoftext|>\n`;

  it('splits stories at end-of-text, trimmed, without empty ones', () => {
    expect(splitStories(text)).toEqual([storyA, storyB]);
  });

  it('returns both means, drop = 1 − second/first, and the first reading scores like plain eval of [EOT] s', () => {
    for (const model of [tinyTtt(), tinyKv()]) {
      const result = readTwice(model, text);
      expect(result).toMatchObject({ stories: 2, skipped: 0, tokens: storyA.length + storyB.length });
      expect(result.firstNats).toBeGreaterThan(0);
      expect(result.secondNats).toBeGreaterThan(0);
      expect(result.secondNats).not.toBeCloseTo(result.firstNats, 6);
      expect(result.drop).toBeCloseTo(1 - result.secondNats / result.firstNats, 12);
      // Token-weighted: the two stories together are the sum of each alone.
      const a = readTwice(model, storyA);
      const b = readTwice(model, storyB);
      expect(result.firstNats * result.tokens).toBeCloseTo(a.firstNats * a.tokens + b.firstNats * b.tokens, 6);
      expect(result.secondNats * result.tokens).toBeCloseTo(a.secondNats * a.tokens + b.secondNats * b.tokens, 6);
      // eval of "<eot> storyA" (limit cuts the final eot) predicts exactly storyA's tokens from the same start.
      const plain = evaluateModel(model, `<|endoftext|>\n${storyA}\n`, { limitBytes: 1 + storyA.length });
      expect(plain.tokens).toBe(storyA.length);
      expect(plain.loss).toBeCloseTo(a.firstNats, 6);
    }
  });

  it('reads whole stories within --limit-bytes, skips stories that do not fit a KV cache, and reads with memory off', () => {
    expect(readTwice(tinyTtt(), text, { limitBytes: storyA.length + 1 }).stories).toBe(1);
    expect(() => readTwice(tinyTtt(), text, { limitBytes: storyA.length })).toThrow(/no whole story/);
    const kv = tinyKv();
    kv.config.maxContext = 2 * storyA.length + 2; // storyA fits exactly, storyB does not
    expect(readTwice(kv, text)).toMatchObject({ stories: 1, skipped: 1, tokens: storyA.length });
    const on = readTwice(tinyTtt(), text);
    const off = readTwice(tinyTtt(), text, { memory: 'off' });
    expect(off.firstNats).not.toBeCloseTo(on.firstNats, 4);
  });
});

describe('recall', () => {
  const byteTokenizer = Tokenizer.fromSpec(TINY_TOKENIZER);
  const probe = makeRecallProbe(byteTokenizer, 'tiny-bytes', 3, 2);
  const eot = byteTokenizer.eotId;
  /** A stepper that knows the item and puts its largest logit on `guess(position)`. */
  const scripted = (item: RecallItem, guess: (i: number, truth: number) => number) => {
    let position = 0;
    return {
      reset: () => void (position = 0),
      step: () => {
        const logits = new Float32Array(257);
        logits[guess(position, item.ids[position]!)] = 1;
        position++;
        return logits;
      },
    };
  };

  it('counts a query correct only when the argmax before every answer token is that token', () => {
    const item = probe.items[0]!;
    const n = item.queries.length;
    expect(scoreRecallItems(scripted(item, (_, truth) => truth), [item], eot).filter((o) => o.correct)).toHaveLength(n);
    // Wrong on the last token of the first query's answer only: that query fails, the others pass.
    const first = item.queries[0]!;
    const wrongLast = scripted(item, (i, truth) => (i === first.answerEnd - 1 ? (truth + 1) % 257 : truth));
    const outcomes = scoreRecallItems(wrongLast, [item], eot);
    expect(outcomes.map((o) => o.correct)).toEqual(item.queries.map((_, j) => j !== 0));
    expect(outcomes[0]!.distance).toBe(first.distance);
    // Every logit equal: argmax is id 0, never a name.
    expect(scoreRecallItems(scripted(item, () => 0), [item], eot).some((o) => o.correct)).toBe(false);
  });

  it('scores a tiny model on a probe made for its tokenizer, with the control and distance buckets', () => {
    for (const memory of ['on', 'off'] as const) {
      const result = evaluateRecall(tinyTtt(), probe, { memory });
      expect(result).toMatchObject({ items: 2, skipped: 0, queries: 12 });
      expect(result.control.queries).toBe(12);
      expect(result.accuracy).toBeGreaterThanOrEqual(0);
      expect(result.accuracy).toBeLessThanOrEqual(1);
      expect(result.byDistance.reduce((sum, bucket) => sum + bucket.queries, 0)).toBe(12);
      expect(result.control.byDistance.reduce((sum, bucket) => sum + bucket.correct, 0)).toBe(result.control.correct);
    }
    expect(() => evaluateRecall(tinyKv(), probe, { memory: 'off' })).toThrow(/needs TTT layers/);
  });

  it('refuses a probe made for another tokenizer', () => {
    const shipped = readFileSync('probes/recall-v1.json', 'utf8');
    expect(() => loadRecallProbe(shipped, tinyTtt())).toThrow(/outside this model's vocabulary/);
    const text = probe.items[0]!.text;
    const other = { ...probe, items: [{ ...probe.items[0]!, ids: probe.items[0]!.ids.map((id) => (id === 32 ? 33 : id)) }], tokenizer: 'other' };
    expect(text.includes(' ')).toBe(true);
    expect(() => evaluateRecall(tinyTtt(), other)).toThrow(/made with the tokenizer "other"/);
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

  it('runs --memory off --read-twice --recall together and refuses memory off and a foreign probe sensibly', () => {
    const [ttt, kv] = tinyModelFiles();
    const tttPath = join(directory, ttt!.file);
    const kvPath = join(directory, kv!.file);
    writeFileSync(tttPath, ttt!.bytes);
    writeFileSync(kvPath, kv!.bytes);
    const probePath = join(directory, 'tiny-probe.json');
    writeFileSync(probePath, JSON.stringify(makeRecallProbe(Tokenizer.fromSpec(TINY_TOKENIZER), 'tiny-bytes', 3, 1)));
    const { code, stdout, stderr } = run(['--model', tttPath, '--data', textPath, '--memory', 'off', '--read-twice', '--recall', '--recall-probe', probePath, '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { memory: string; readTwice: { stories: number; skipped: number; firstNats: number; secondNats: number; drop: number }; recall: { queries: number; control: { queries: number } } };
    expect(report.memory).toBe('off');
    expect(report.readTwice).toMatchObject({ stories: 2, skipped: 0 });
    expect(report.readTwice.drop).toBeCloseTo(1 - report.readTwice.secondNats / report.readTwice.firstNats, 10);
    expect(report.recall.queries).toBe(6);
    expect(report.recall.control.queries).toBe(6);

    const refusedOff = run(['--model', kvPath, '--data', textPath, '--memory', 'off']);
    expect(refusedOff.code).toBe(1);
    expect(refusedOff.stderr).toMatch(/--memory off needs TTT layers/);
    const refusedProbe = run(['--model', tttPath, '--data', textPath, '--recall']);
    expect(refusedProbe.code).toBe(1);
    expect(refusedProbe.stderr).toMatch(/recall probe: .*outside this model's vocabulary/);
    expect(run(['--model', tttPath, '--data', textPath, '--memory', 'maybe']).code).toBe(2);
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
