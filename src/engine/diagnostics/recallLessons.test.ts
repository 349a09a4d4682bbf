import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LESSON_NAMES, LESSON_THINGS, makeRecallLessons, probeWords } from './recallLessons';
import { tokenizerSpecFromJson } from '../tokenizer/load';
import { Tokenizer } from '../tokenizer/tokenizer';

const path = 'train/tokenizer/tinystories-4096.json';
const tokenizer = Tokenizer.fromSpec(tokenizerSpecFromJson(readFileSync(path, 'utf8'), path));

describe('recall lessons', () => {
  it('share no name, key or template with the recall probe', () => {
    const banned = probeWords();
    for (const word of [...LESSON_NAMES.map((n) => n.toLowerCase()), ...LESSON_THINGS]) expect(banned.has(word), word).toBe(false);
    for (const lesson of makeRecallLessons(tokenizer, 200, 3)) {
      const text = tokenizer.decode([...lesson.facts, ...lesson.qa]);
      expect(text).not.toMatch(/\bname\b/i);
      const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
      expect(words.filter((w) => banned.has(w))).toEqual([]);
    }
  });

  it('answer every fact once, with the answer tokens where the answers say', () => {
    for (const lesson of makeRecallLessons(tokenizer, 100, 5)) {
      const facts = tokenizer.decode(lesson.facts);
      const n = facts.split('.').length - 1;
      expect(n).toBeGreaterThanOrEqual(2);
      expect(lesson.answers).toHaveLength(n);
      for (const [start, end] of lesson.answers) {
        expect(end).toBeGreaterThan(start);
        const answer = tokenizer.decode(lesson.qa.slice(start, end)).trim();
        expect(facts).toContain(answer); // the answer was stated among the facts
        expect(tokenizer.decode(lesson.qa.slice(end, end + 1))).toBe('.');
      }
    }
  });

  it('are the same for a seed and differ across seeds', () => {
    expect(makeRecallLessons(tokenizer, 20, 9)).toEqual(makeRecallLessons(tokenizer, 20, 9));
    expect(makeRecallLessons(tokenizer, 20, 9)).not.toEqual(makeRecallLessons(tokenizer, 20, 10));
  });
});
