import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { judgeAnswer, recallPlan } from './recall';
import type { RecallProbe } from '../../engine/diagnostics/recallProbe';

describe('recall plan', () => {
  it('cuts every item of the shipped probe where its facts answer and before each question’s " is"', () => {
    const probe = JSON.parse(readFileSync('probes/recall-v1.json', 'utf8')) as RecallProbe;
    for (const item of probe.items) {
      const { stream, steps } = recallPlan(item);
      expect(stream.startsWith('<|endoftext|>')).toBe(true);
      expect(steps.filter((s) => s.kind === 'fact')).toHaveLength(new Set(item.queries.map((q) => q.key)).size);
      const asks = steps.filter((s) => s.kind === 'ask');
      expect(asks.map((s) => s.query).sort()).toEqual(item.queries.map((_, i) => i));
      for (const s of steps) {
        expect(stream[s.at]).toBe(' '); // every cut is before a space
        if (s.kind === 'ask') {
          expect(stream.slice(s.at, s.answerAt)).toBe(' is');
          expect(stream.slice(s.answerAt).startsWith(` ${item.queries[s.query].answer}.`)).toBe(true);
        } else {
          expect(stream.slice(0, s.at).endsWith(`The ${s.key}'s name is`)).toBe(true);
        }
      }
      for (let i = 1; i < steps.length; i++) expect(steps[i].at).toBeGreaterThan(steps[i - 1].at);
    }
  });

  it('judges the first word of a continuation', () => {
    expect(judgeAnswer(' Sue. The', 'Sue')).toEqual({ said: 'Sue', correct: true });
    expect(judgeAnswer(' Susan.', 'Sue')).toEqual({ said: 'Susan', correct: false });
    expect(judgeAnswer(' a big', 'Sue').correct).toBe(false);
    expect(judgeAnswer('', 'Sue')).toEqual({ said: '', correct: false });
  });
});
