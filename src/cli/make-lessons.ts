// npm run make-lessons -- [--tokenizer train/tokenizer/tinystories-4096.json] [--count 20000] [--seed 17] [--out train/data/lessons.json]
// Writes the recall lessons (src/engine/diagnostics/recallLessons.ts) as token ids for train/train.py --lesson-frac:
// { tokenizer, seed, newline: ids of "\n", lessons: [{ facts, qa, answers }] }. Deterministic for a seed; the output is ignored by git
// (train/data/), like train.bin.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { makeRecallLessons } from '../engine/diagnostics/recallLessons';
import { tokenizerSpecFromJson } from '../engine/tokenizer/load';
import { Tokenizer } from '../engine/tokenizer/tokenizer';

const { values } = parseArgs({
  options: {
    tokenizer: { type: 'string', default: 'train/tokenizer/tinystories-4096.json' },
    count: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '17' },
    out: { type: 'string', default: 'train/data/lessons.json' },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(seed)) {
  console.error('make-lessons: --count must be a positive integer and --seed an integer');
  process.exit(2);
}
const tokenizer = Tokenizer.fromSpec(tokenizerSpecFromJson(readFileSync(values.tokenizer!, 'utf8'), values.tokenizer!));
const lessons = makeRecallLessons(tokenizer, count, seed);
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(values.out!, JSON.stringify({ tokenizer: values.tokenizer, seed, newline: tokenizer.encode('\n'), lessons }));
const tokens = lessons.reduce((n, l) => n + l.facts.length + l.qa.length, 0);
const questions = lessons.reduce((n, l) => n + l.answers.length, 0);
console.log(`${values.out}: ${lessons.length} lessons, ${questions} questions, ${tokens} tokens of facts and questions`);
