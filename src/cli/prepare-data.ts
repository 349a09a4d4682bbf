// npm run prepare-data -- --data DIR --tokenizer FILE.json [--out train/data] [--extra-lowercase] [--extra FILE ...]
// Encodes DIR/train.txt (then DIR/train-lowercase.txt with --extra-lowercase, then each --extra FILE, a path or a
// name inside DIR, e.g. `--extra train-extra.txt`) and DIR/valid.txt into
// OUT/train.bin and OUT/valid.bin: little-endian uint16 token ids, stories in file order, each story followed
// by the eot id (src/engine/tokenizer/corpus.ts says exactly what is encoded and how bytes are counted), and
// OUT/meta.json: { vocabSize, eotId, tokenizer, files: { train: { tokens, bytes, ... }, valid: { ... } } }.
// Files are read line by line, so a corpus larger than memory works too.
// Every training story whose normalised text (NFKC, lower case, letters and digits only, single spaces) equals a
// valid story's, or shares its first 200 normalised characters, is dropped, so valid bpb stays a holdout number;
// meta.json (files.train.dropped) and the printed summary say how many, per source file.
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CorpusEncoder } from '../engine/tokenizer/corpus';
import { tokenizerSpecFromJson } from '../engine/tokenizer/load';
import { END_OF_TEXT, Tokenizer } from '../engine/tokenizer/tokenizer';

function fail(message: string): never {
  console.error(`prepare-data: ${message}`);
  console.error(
    'usage: npm run prepare-data -- --data DIR --tokenizer FILE.json [--out train/data] [--extra-lowercase] [--extra FILE ...]',
  );
  process.exit(2);
}

interface FileStats {
  tokens: number;
  bytes: number;
  stories: number;
  sources: string[];
  /** Per source file: stories kept, and stories dropped as duplicates of a valid story. */
  perSource: { source: string; stories: number; dropped: number }[];
  dropped: number;
}

const PREFIX_CHARS = 200;

/** The text a duplicate check compares: NFKC, lower case, runs of anything but letters/digits → one space. */
function normalizeStory(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Stories of a corpus file, as CorpusEncoder delimits them (lines between `<|endoftext|>` lines). */
async function* storiesOf(source: string): AsyncGenerator<string[]> {
  let story: string[] = [];
  const lines = createInterface({ input: createReadStream(source, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === END_OF_TEXT || line === `${END_OF_TEXT}\r`) {
      yield story;
      story = [];
    } else story.push(line);
  }
  if (story.some((line) => line.trim().length > 0)) yield story;
}

/** Keys of the valid stories: whole normalised text and its first PREFIX_CHARS characters. */
class DuplicateFilter {
  private readonly whole = new Set<string>();
  private readonly prefixes = new Set<string>();

  add(text: string): void {
    const norm = normalizeStory(text);
    if (norm.length === 0) return;
    this.whole.add(norm);
    if (norm.length >= PREFIX_CHARS) this.prefixes.add(norm.slice(0, PREFIX_CHARS));
  }

  matches(text: string): boolean {
    const norm = normalizeStory(text);
    if (norm.length === 0) return false;
    return this.whole.has(norm) || (norm.length >= PREFIX_CHARS && this.prefixes.has(norm.slice(0, PREFIX_CHARS)));
  }
}

/** Encodes the given text files, in order, into one .bin file, leaving out stories `skip` matches. */
async function encodeFiles(
  tokenizer: Tokenizer,
  sources: string[],
  outPath: string,
  skip?: DuplicateFilter,
): Promise<FileStats> {
  const fd = openSync(outPath, 'w');
  try {
    const encoder = new CorpusEncoder(tokenizer, (ids) => {
      const buffer = Buffer.allocUnsafe(ids.length * 2);
      ids.forEach((id, index) => buffer.writeUInt16LE(id, index * 2));
      writeSync(fd, buffer);
    });
    const perSource: FileStats['perSource'] = [];
    for (const source of sources) {
      const before = encoder.stories;
      let dropped = 0;
      for await (const story of storiesOf(source)) {
        if (skip?.matches(story.join('\n'))) {
          dropped++;
          continue;
        }
        for (const line of story) encoder.addLine(line);
        encoder.addLine(END_OF_TEXT);
      }
      encoder.finish(); // a file's last story never runs into the next file's first
      perSource.push({ source, stories: encoder.stories - before, dropped });
    }
    const dropped = perSource.reduce((sum, s) => sum + s.dropped, 0);
    return { tokens: encoder.tokens, bytes: encoder.bytes, stories: encoder.stories, sources, perSource, dropped };
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
        extra: { type: 'string', multiple: true, default: [] },
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
  for (const extra of values.extra ?? []) trainSources.push(existsSync(extra) ? extra : join(data, extra));
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
  const validStories = new DuplicateFilter();
  for (const source of validSources) for await (const story of storiesOf(source)) validStories.add(story.join('\n'));
  const train = await encodeFiles(tokenizer, trainSources, join(out, 'train.bin'), validStories);
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
