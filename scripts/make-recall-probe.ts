// Writes probes/recall-v1.json: the associative-recall probe of docs/DIAGNOSTICS.md, built with the shipped
// tokenizer (train/tokenizer/tinystories-4096.json). Deterministic: rerunning it rewrites the same bytes.
//   npx tsx scripts/make-recall-probe.ts [OUT.json]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeRecallProbe } from '../src/engine/diagnostics/recallProbe';
import { tokenizerSpecFromJson } from '../src/engine/tokenizer/load';
import { Tokenizer } from '../src/engine/tokenizer/tokenizer';

const out = process.argv[2] ?? 'probes/recall-v1.json';
const tokenizerPath = 'train/tokenizer/tinystories-4096.json';
const tokenizer = Tokenizer.fromSpec(tokenizerSpecFromJson(readFileSync(tokenizerPath, 'utf8'), tokenizerPath));
const probe = makeRecallProbe(tokenizer, 'tinystories-4096');

// One item per line keeps the file small and its diffs readable.
const line = (value: unknown) => JSON.stringify(value);
const text = [
  '{',
  `"version": ${probe.version}, "tokenizer": ${line(probe.tokenizer)}, "seed": ${probe.seed},`,
  `"description": ${line(probe.description)},`,
  '"items": [',
  probe.items.map(line).join(',\n'),
  '],',
  '"controls": [',
  probe.controls.map(line).join(',\n'),
  ']',
  '}',
  '',
].join('\n');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, text);
const queries = probe.items.reduce((n, item) => n + item.queries.length, 0);
const distances = probe.items.flatMap((item) => item.queries.map((q) => q.distance));
const tokens = probe.items.reduce((n, item) => n + item.ids.length, 0);
console.log(`${out}: ${probe.items.length} items (+ ${probe.controls.length} controls), ${queries} queries, ${tokens} tokens, ` +
  `distances ${Math.min(...distances)}–${Math.max(...distances)}, ${text.length} bytes`);
