// Splits text into the chunks that BPE merges may not cross (GPT-2 style, Unicode-aware): English
// contractions, letters, digits, other symbols — each with at most one leading space attached — and runs of
// whitespace. A run of spaces before a word gives all but its last space to the whitespace chunk, so " the"
// stays one chunk however many spaces precede it. Concatenating the chunks always gives back the input.
const CHUNK_PATTERN = /'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export function splitIntoChunks(text: string): string[] {
  return text.match(CHUNK_PATTERN) ?? [];
}

/** Calls `visit` for every chunk without building an array (used when counting chunks of large corpora). */
export function forEachChunk(text: string, visit: (chunk: string) => void): void {
  const pattern = new RegExp(CHUNK_PATTERN.source, CHUNK_PATTERN.flags);
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) visit(match[0]);
}
