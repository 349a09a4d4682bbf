// npm run prepare-data -- --data DIR --tokenizer FILE.json [--out train/data] [--extra-lowercase]
// Encodes DIR/train.txt (then DIR/train-lowercase.txt with --extra-lowercase) and DIR/valid.txt into
// OUT/train.bin and OUT/valid.bin: little-endian uint16 token ids, stories in file order, each story followed
// by the eot id (src/engine/tokenizer/corpus.ts says exactly what is encoded and how bytes are counted), and
// OUT/meta.json: { vocabSize, eotId, tokenizer, files: { train: { tokens, bytes, ... }, valid: { ... } } }.
// Files are read line by line, so a corpus larger than memory works too.
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CorpusEncoder } from '../engine/tokenizer/corpus';
import { tokenizerSpecFromJson } from '../engine/tokenizer/load';
import { Tokenizer } from '../engine/tokenizer/tokenizer';

function fail(message: string): never {
  console.error(`prepare-data: ${message}`);
  console.error('usage: npm run prepare-data -- --data DIR --tokenizer FILE.json [--out train/data] [--extra-lowercase]');
  process.exit(2);
}

interface FileStats {
  tokens: number;
  bytes: number;
  stories: number;
  sources: string[];
}

/** Encodes the given text files, in order, into one .bin file. */
async function encodeFiles(tokenizer: Tokenizer, sources: string[], outPath: string): Promise<FileStats> {
  const fd = openSync(outPath, 'w');
  try {
    const encoder = new CorpusEncoder(tokenizer, (ids) => {
      const buffer = Buffer.allocUnsafe(ids.length * 2);
      ids.forEach((id, index) => buffer.writeUInt16LE(id, index * 2));
      writeSync(fd, buffer);
    });
    for (const source of sources) {
      const lines = createInterface({ input: createReadStream(source, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) encoder.addLine(line);
      encoder.finish(); // a file's last story never runs into the next file's first
    }
    return { tokens: encoder.tokens, bytes: encoder.bytes, stories: encoder.stories, sources };
  } finally {
    closeSync(fd);
  }
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        data: { type: 'string' },
        tokenizer: { type: 'string' },
        out: { type: 'string', default: 'train/data' },
        'extra-lowercase': { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  const { data, tokenizer: tokenizerPath, out } = values;
  if (data === undefined) fail('--data DIR is required');
  if (tokenizerPath === undefined) fail('--tokenizer FILE.json is required');
  const trainSources = [join(data, 'train.txt')];
  if (values['extra-lowercase']) trainSources.push(join(data, 'train-lowercase.txt'));
  const validSources = [join(data, 'valid.txt')];
  for (const path of [tokenizerPath, ...trainSources, ...validSources]) {
    if (!existsSync(path)) fail(`${path} does not exist`);
  }
  let tokenizer: Tokenizer;
  let spec;
  try {
    spec = tokenizerSpecFromJson(readFileSync(tokenizerPath, 'utf8'), tokenizerPath);
    tokenizer = Tokenizer.fromSpec(spec);
  } catch (error) {
    fail((error as Error).message);
  }

  mkdirSync(out, { recursive: true });
  const started = performance.now();
  const train = await encodeFiles(tokenizer, trainSources, join(out, 'train.bin'));
  const valid = await encodeFiles(tokenizer, validSources, join(out, 'valid.bin'));
  const meta = {
    vocabSize: tokenizer.vocabSize,
    eotId: tokenizer.eotId,
    tokenizer: spec,
    tokenizerFile: tokenizerPath,
    format: 'uint16 little-endian token ids; each story followed by eotId; bytes = UTF-8 bytes of the story texts + 1 per eot',
    files: { train, valid },
  };
  writeFileSync(join(out, 'meta.json'), JSON.stringify(meta) + '\n');
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ out, vocabSize: meta.vocabSize, eotId: meta.eotId, train, valid, seconds }, null, 2));
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
