// Golden vectors: the trainer's exported models (train/export.py evaluates the quantised model in f32 with
// PyTorch and writes the logits) against the CPU reference fed the same tokens. This is the proof that the
// shipped .bttt files, the PyTorch model they came from and docs/MATH.md's reference agree.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBttt } from '../format/reader';
import { ReferenceModel } from './model';
import { compareLogits } from './compare';

interface GoldenCase {
  tokens: number[];
  /** base64 of little-endian f32 [tokens.length × vocabSize]: the logits after each token. */
  logits: string;
}

interface GoldenFile {
  model: string;
  cases: GoldenCase[];
}

const SHIPPED = ['ttt-hybrid-d256', 'kv-d256'];

/** Tolerance per position: max |Δlogit| ≤ 1e-5 × (max − min) of the golden logits at that position. */
const RELATIVE_TOLERANCE = 1e-5;

/**
 * An int8 tie flip: a BitLinear input lands within an f32 rounding of a .5 tie after x·s_x, and PyTorch (f32
 * sums) and the reference (f64 sums) round it to int8 values one apart. It shows as the first positions agreeing
 * to f32 rounding, then one sudden jump of the error (> 10× the tolerance) that persists (the TTT state and the KV
 * caches keep the flipped value) but stays small. A real mismatch shows from the first position or grows smoothly.
 * Seen in ttt-hybrid-d256's cases, which share their first 8 tokens: the input of l3.ttt.wqk/wv/wg at position 2
 * is 1.9e-6 from a tie in PyTorch (found by hooking train/model.py's BitLinear), and the error jumps there from
 * 4e-8 to 3.4e-3 of the range. So its golden file has a 4th case (added with train/export.py's own
 * model_from_bttt + golden_cases on the shipped file: the first later valid story whose BitLinear inputs all stay
 * ≥ 2e-5 from a tie), which must hold the tolerance at every position.
 */
const FLIP_JUMP = 1e-4;
const FLIP_MAX = 1e-2;

function decodeLogits(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  // Copy into a fresh, aligned buffer; the golden files are little-endian like every platform we run on.
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  return new Float32Array(aligned.buffer);
}

for (const name of SHIPPED) {
  describe(`golden vectors of ${name}`, () => {
    const golden = JSON.parse(readFileSync(`train/golden/${name}.json`, 'utf8')) as GoldenFile;
    const model = parseBttt(new Uint8Array(readFileSync(golden.model)));
    const vocab = model.config.vocabSize;

    it('names the shipped model file and holds whole [T × V] logit blocks', () => {
      expect(golden.model).toBe(`public/models/${name}.bttt`);
      expect(golden.cases.length).toBeGreaterThanOrEqual(1);
      for (const c of golden.cases) expect(decodeLogits(c.logits).length).toBe(c.tokens.length * vocab);
    });

    it(`the reference reproduces the PyTorch logits at every position to ${RELATIVE_TOLERANCE} of the logit range, or shows an int8 tie flip`, () => {
      const reference = new ReferenceModel(model);
      let exactCases = 0;
      for (const [index, c] of golden.cases.entries()) {
        const expected = decodeLogits(c.logits);
        reference.reset();
        const relative: number[] = [];
        let argmaxAgreements = 0;
        c.tokens.forEach((token, t) => {
          const actual = reference.step(token);
          const row = expected.subarray(t * vocab, (t + 1) * vocab);
          const comparison = compareLogits(actual, row);
          relative.push(comparison.relative);
          if (comparison.argmaxEqual) argmaxAgreements++;
        });
        console.log(`${name} case ${index}: relative logit diff by position ${relative.map((v) => v.toExponential(1)).join(' ')}; argmax equal ${argmaxAgreements}/${relative.length}`);
        expect(argmaxAgreements, 'greedy choice at every position').toBe(relative.length);
        const firstOver = relative.findIndex((v) => v > RELATIVE_TOLERANCE);
        if (firstOver < 0) {
          exactCases++;
          continue;
        }
        expect(firstOver, 'the first positions agree to f32 rounding').toBeGreaterThanOrEqual(1);
        expect(relative[firstOver], 'a tie flip is a jump, not a drift').toBeGreaterThan(FLIP_JUMP);
        expect(Math.max(...relative), 'after a tie flip the error stays small').toBeLessThanOrEqual(FLIP_MAX);
      }
      // A flip excuses one case, not the model: at least one case must hold the tolerance at every position.
      expect(exactCases, 'cases within tolerance at every position').toBeGreaterThanOrEqual(1);
    });
  });
}
