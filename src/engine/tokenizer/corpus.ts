// Turns a TinyStories-style corpus (stories separated by lines that hold only `<|endoftext|>`) into one
// token stream, the same way for the trainer's .bin files (prepare-data) and for `npm run eval`:
//   story text (its lines joined by '\n', no trailing newline) followed by the eot id, for every story.
// The separator lines and the newlines around them are not encoded: the eot token replaces them.
// Bits-per-byte denominators count the UTF-8 bytes of every story's text plus ONE byte per eot (the eot
// stands for the story break, as a newline would in plain text), so `coveredBytes` summed over the stream
// equals the `bytes` reported for it.
import { END_OF_TEXT, type Tokenizer } from './tokenizer';

/** Bytes of text a token covers for bits-per-byte: its own bytes, and 1 for the end-of-text token. */
export function coveredBytes(tokenizer: Tokenizer, id: number): number {
  return id === tokenizer.eotId ? 1 : tokenizer.bytesOfToken(id).length;
}

const utf8Encoder = new TextEncoder();

/** Feed lines one at a time (so a 2 GB corpus never has to be one string); tokens go to `emit`. */
export class CorpusEncoder {
  tokens = 0;
  bytes = 0;
  stories = 0;
  private storyLines: string[] = [];

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly emit: (ids: readonly number[]) => void,
  ) {}

  addLine(line: string): void {
    // Tolerate Windows line ends around the separator.
    if (line === END_OF_TEXT || line === `${END_OF_TEXT}\r`) this.endStory();
    else this.storyLines.push(line);
  }

  /** Ends the last story even when the corpus lacks a final separator line. */
  finish(): void {
    if (this.storyLines.some((line) => line.trim().length > 0)) this.endStory();
    this.storyLines = [];
  }

  private endStory(): void {
    const text = this.storyLines.join('\n');
    this.storyLines = [];
    const ids = this.tokenizer.encode(text);
    ids.push(this.tokenizer.eotId);
    this.emit(ids);
    this.tokens += ids.length;
    this.bytes += utf8Encoder.encode(text).length + 1;
    this.stories++;
  }
}

/** Encodes a whole corpus held in memory; returns the token stream and its byte denominator. */
export function encodeCorpus(tokenizer: Tokenizer, text: string): { ids: number[]; bytes: number; stories: number } {
  const ids: number[] = [];
  const encoder = new CorpusEncoder(tokenizer, (chunk) => {
    for (const id of chunk) ids.push(id);
  });
  const lines = text.split('\n');
  // A final newline leaves an empty last element that is not a line of the corpus.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) encoder.addLine(line);
  encoder.finish();
  return { ids, bytes: encoder.bytes, stories: encoder.stories };
}
