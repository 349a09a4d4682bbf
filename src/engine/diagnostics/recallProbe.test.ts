import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tokenizerSpecFromJson } from '../tokenizer/load';
import { Tokenizer } from '../tokenizer/tokenizer';
import { checkFiller, makeRecallProbe, parseRecallProbe, RECALL_NAMES } from './recallProbe';

const tokenizerPath = 'train/tokenizer/tinystories-4096.json';
const tokenizer = Tokenizer.fromSpec(tokenizerSpecFromJson(readFileSync(tokenizerPath, 'utf8'), tokenizerPath));

describe('recall probe', () => {
  const probe = makeRecallProbe(tokenizer, 'tinystories-4096');

  it('is what probes/recall-v1.json holds (the committed file is the generator\'s output)', () => {
    const committed = parseRecallProbe(readFileSync('probes/recall-v1.json', 'utf8'), 4096);
    expect(committed.items).toEqual(probe.items);
    expect(committed.controls).toEqual(probe.controls);
  });

  it('puts every answer at its span, beyond a 64-token window from its fact, and keeps it out of the control', () => {
    for (const [index, item] of probe.items.entries()) {
      const control = probe.controls[index]!;
      expect(item.queries).toHaveLength(6);
      for (const [j, q] of item.queries.entries()) {
        expect(tokenizer.decode(item.ids.slice(q.answerStart, q.answerEnd))).toBe(` ${q.answer}`);
        expect(item.text).toContain(`The ${q.key}'s name is ${q.answer}.`);
        expect(q.distance).toBeGreaterThanOrEqual(96);
        // The fact the question asks about sits `distance` tokens before the answer.
        expect(item.ids.slice(q.answerStart - q.distance, q.answerEnd - q.distance)).toEqual(item.ids.slice(q.answerStart, q.answerEnd));
        const cq = control.queries[j]!;
        expect(tokenizer.decode(control.ids.slice(cq.answerStart, cq.answerEnd))).toBe(` ${q.answer}`);
        // In the control, the answer name occurs only as the answer itself.
        expect(control.text.split(` ${q.answer}.`)).toHaveLength(2);
      }
    }
    expect(RECALL_NAMES.length).toBeGreaterThanOrEqual(12);
  });

  it('refuses filler that would leak an answer', () => {
    expect(() => checkFiller(['The cat was happy.'])).toThrow(/cat/);
    expect(() => checkFiller(['Lily went home.'])).toThrow(/lily/);
  });
});
