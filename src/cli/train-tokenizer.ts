// npm run train-tokenizer -- --data FILE [--data FILE2] --vocab N --out FILE.json [--eval VALID.txt]
// Trains a byte-level BPE tokenizer (src/engine/tokenizer/train.ts) and writes its TokenizerSpec, with the
// training stats under "training" (readers take only type, merges and specials). With --eval, also reports
// bytes per token of that corpus, encoded as prepare-data encodes it.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeCorpus } from '../engine/tokenizer/corpus';
import { Tokenizer } from '../engine/tokenizer/tokenizer';
import { ChunkCounter, trainBpe } from '../engine/tokenizer/train';

function usage(message: string): never {
  console.error(`train-tokenizer: ${message}`);
  console.error('usage: npm run train-tokenizer -- --data FILE [--data FILE2] --vocab N --out FILE.json [--eval FILE]');
  process.exit(2);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    usage(`cannot read ${path}: ${(error as Error).message}`);
  }
}

function main(): void {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        data: { type: 'string', multiple: true },
        vocab: { type: 'string' },
        out: { type: 'string' },
        eval: { type: 'string' },
      },
    });
  } catch (error) {
    usage((error as Error).message);
  }
  const { data, vocab, out, eval: evalPath } = parsed.values;
  if (data === undefined || data.length === 0) usage('at least one --data FILE is required');
  if (out === undefined) usage('--out FILE.json is required');
  const vocabSize = Number(vocab);
  if (vocab === undefined || !Number.isInteger(vocabSize)) usage(`--vocab must be an integer, got ${vocab}`);

  const counter = new ChunkCounter();
  let dataBytes = 0;
  const countStarted = performance.now();
  for (const path of data) {
    const text = readText(path);
    dataBytes += Buffer.byteLength(text, 'utf8');
    counter.add(text);
  }
  const countSeconds = (performance.now() - countStarted) / 1000;
  console.error(`counted ${counter.totalChunks} chunks (${counter.counts.size} unique) in ${countSeconds.toFixed(1)} s`);

  const { spec, stats } = trainBpe(counter.counts, {
    vocabSize,
    onProgress: (done, wanted) => console.error(`  ${done}/${wanted} merges`),
    progressEvery: 512,
  });
  const tokenizer = Tokenizer.fromSpec(spec);
  const training: Record<string, unknown> = {
    data: data.map((path) => path.split('/').slice(-2).join('/')),
    dataBytes,
    vocabSize: tokenizer.vocabSize,
    ...stats,
    countSeconds,
  };
  if (evalPath !== undefined) {
    const { ids, bytes } = encodeCorpus(tokenizer, readText(evalPath));
    training.eval = { file: evalPath.split('/').slice(-2).join('/'), tokens: ids.length, bytes, bytesPerToken: bytes / ids.length };
  }
  writeFileSync(out, JSON.stringify({ ...spec, training }) + '\n');
  console.log(JSON.stringify(training, null, 2));
}

main();
