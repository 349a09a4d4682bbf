import { describe, expect, it } from 'vitest';
import { BtttError } from './errors';
import { parseBttt, readBtttHeader, readBtttStream } from './reader';
import { smallConfig, smallFile } from './testkit';
import { writeBttt } from './writer';
import { Rng } from '../util/rng';

const ttt = smallFile(smallConfig('ttt'), 5);
const kv = smallFile(smallConfig('kv'), 6);

function randomChunks(bytes: Uint8Array, rng: Rng, maxChunk: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = rng.int(maxChunk + 1); // empty chunks included: readers must skip them
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

function readableOf(chunks: Uint8Array[], then: 'end' | 'hang' = 'end'): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let i = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else if (then === 'end') controller.close();
      else return new Promise<void>(() => undefined); // never delivers another chunk
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, cancelled: () => cancelled };
}

async function* iterableOf(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    if (e instanceof BtttError) return e.code;
    if (e instanceof Error && e.name === 'AbortError') return 'AbortError';
    throw e;
  }
}

describe('readBtttStream', () => {
  it('equals parseBttt for random chunkings, with monotone progress ending at the total', async () => {
    const rng = new Rng(99);
    for (let trial = 0; trial < 24; trial++) {
      const file = trial % 2 ? ttt : kv;
      const chunks = randomChunks(file, rng, [3, 7, 64, 500, 5000, 100000][trial % 6]!);
      const progress: [number, number | undefined][] = [];
      const source = trial % 3 === 0 ? iterableOf(chunks) : readableOf(chunks).stream;
      const { model, bytes } = await readBtttStream(source, {
        totalBytes: trial % 4 === 0 ? file.length : undefined,
        onProgress: (read, total) => progress.push([read, total]),
      });
      expect(Buffer.from(bytes).equals(Buffer.from(file))).toBe(true);
      // The writer re-encodes every tensor: identical bytes mean an identical model.
      expect(Buffer.from(writeBttt(model)).equals(Buffer.from(file))).toBe(true);
      expect(model.fileBytes).toBe(parseBttt(file).fileBytes);
      for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
      expect(progress.at(-1)).toEqual([file.length, file.length]);
    }
  });

  it('fails on a bad magic, version or header as soon as those bytes arrive, and cancels the source', async () => {
    const badMagic = readableOf([Uint8Array.from([0x50, 0x4b])], 'hang'); // a zip file's start, then silence
    expect(await codeOf(readBtttStream(badMagic.stream))).toBe('BAD_MAGIC');
    expect(badMagic.cancelled()).toBe(true);

    const v2 = ttt.slice(0, 12);
    v2[4] = 2;
    expect(await codeOf(readBtttStream(readableOf([v2], 'hang').stream))).toBe('UNSUPPORTED_VERSION');

    const headerLength = readBtttHeader(ttt).headerLength;
    const badHeader = ttt.slice(0, 16 + headerLength);
    badHeader[30] = badHeader[30]! ^ 1;
    expect(await codeOf(readBtttStream(readableOf([badHeader.subarray(0, 20), badHeader.subarray(20)], 'hang').stream))).toBe('HEADER_CHECKSUM');
  });

  it('reports TRUNCATED for a stream that ends early, wherever it ends', async () => {
    const headerEnd = 16 + readBtttHeader(ttt).headerLength;
    for (const cut of [0, 3, 12, 15, 16, headerEnd - 1, headerEnd, ttt.length - 1]) {
      const code = await codeOf(readBtttStream(iterableOf([ttt.slice(0, cut)])));
      expect(code, `cut at ${cut}`).toBe('TRUNCATED');
    }
  });

  it('stops at TRAILING_DATA without reading an endless stream', async () => {
    let pulled = 0;
    async function* endless(): AsyncIterable<Uint8Array> {
      yield ttt;
      for (;;) {
        pulled++;
        yield new Uint8Array(1024);
      }
    }
    expect(await codeOf(readBtttStream(endless()))).toBe('TRAILING_DATA');
    expect(pulled).toBe(1);
    expect(await codeOf(readBtttStream(iterableOf([Uint8Array.from([...ttt, 1, 2])])))).toBe('TRAILING_DATA');
  });

  it('rejects with an AbortError when aborted while the source is silent', async () => {
    const controller = new AbortController();
    const silent = readableOf([ttt.slice(0, 100)], 'hang');
    const pending = readBtttStream(silent.stream, { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    expect(await codeOf(pending)).toBe('AbortError');
    expect(silent.cancelled()).toBe(true);
    expect(await codeOf(readBtttStream(iterableOf([ttt]), { signal: AbortSignal.abort() }))).toBe('AbortError');
  });
});
