// Byte-level BPE (docs/FORMAT.md): ids 0..255 are the bytes, 256 + j is merge j, specials follow the merges.
// Text is first cut at special strings (each becomes its id), then into chunks (pretokenize.ts); merges are
// applied by rank inside a chunk and never across chunks. DOM-free: runs in the worker and in Node.
import type { TokenizerSpec } from '../types';
import { splitIntoChunks } from './pretokenize';

export const END_OF_TEXT = '<|endoftext|>';

/** Largest vocabulary: token files store ids as uint16. */
export const MAX_VOCAB_SIZE = 65_536;

export type TokenizerErrorCode = 'BAD_SPEC' | 'BAD_TOKEN_ID';

export class TokenizerError extends Error {
  constructor(
    readonly code: TokenizerErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'TokenizerError';
  }
}

/** Ids fit in 16 bits, so a pair packs into one exact number key. */
export function pairKey(left: number, right: number): number {
  return left * MAX_VOCAB_SIZE + right;
}

/** Chunks repeat a lot in natural text; beyond this many cached chunks the cache starts afresh. */
const CHUNK_CACHE_LIMIT = 200_000;

const utf8Encoder = new TextEncoder();

function escapeForRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface StreamingDecoder {
  /** Text completed by this token; '' while a multi-byte character is still incomplete. */
  push(id: number): string;
  /** Whatever is left (an incomplete character at the end becomes U+FFFD). */
  flush(): string;
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly eotId: number;
  readonly spec: TokenizerSpec;
  /** Bytes of every id; a special's bytes are its string's UTF-8. */
  private readonly tokenBytes: Uint8Array[];
  private readonly mergeRank = new Map<number, number>();
  private readonly specialIds = new Map<string, number>();
  private readonly specialIdSet = new Set<number>();
  private readonly specialPattern: RegExp | null;
  private readonly chunkCache = new Map<string, readonly number[]>();

  private constructor(spec: TokenizerSpec) {
    this.spec = spec;
    const merges = spec.merges;
    this.tokenBytes = [];
    for (let byte = 0; byte < 256; byte++) this.tokenBytes.push(Uint8Array.of(byte));
    merges.forEach(([left, right], rank) => {
      const leftBytes = this.tokenBytes[left]!;
      const rightBytes = this.tokenBytes[right]!;
      const joined = new Uint8Array(leftBytes.length + rightBytes.length);
      joined.set(leftBytes, 0);
      joined.set(rightBytes, leftBytes.length);
      this.tokenBytes.push(joined);
      this.mergeRank.set(pairKey(left, right), rank);
    });
    const specials = Object.entries(spec.specials).sort((a, b) => a[1] - b[1]);
    for (const [text, id] of specials) {
      this.tokenBytes.push(utf8Encoder.encode(text));
      this.specialIds.set(text, id);
      this.specialIdSet.add(id);
    }
    this.vocabSize = this.tokenBytes.length;
    this.eotId = this.specialIds.get(END_OF_TEXT)!;
    // Longest first so that a special that is a prefix of another never shadows it.
    const specialTexts = specials.map(([text]) => text).sort((a, b) => b.length - a.length);
    this.specialPattern =
      specialTexts.length === 0 ? null : new RegExp(`(${specialTexts.map(escapeForRegExp).join('|')})`);
  }

  /** Validates the spec (ids per FORMAT.md) and builds the tables; throws TokenizerError('BAD_SPEC'). */
  static fromSpec(spec: TokenizerSpec): Tokenizer {
    validateSpec(spec);
    return new Tokenizer(spec);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    const pieces = this.specialPattern === null ? [text] : text.split(this.specialPattern);
    // With one capture group, split() alternates plain text (even indices) and specials (odd indices).
    pieces.forEach((piece, index) => {
      if (index % 2 === 1) ids.push(this.specialIds.get(piece)!);
      else for (const chunk of splitIntoChunks(piece)) for (const id of this.encodeChunk(chunk)) ids.push(id);
    });
    return ids;
  }

  decode(ids: readonly number[]): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.bytesOf(ids));
  }

  /** Decodes token by token for display: each push returns only complete UTF-8 characters. */
  createDecoder(): StreamingDecoder {
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    return {
      push: (id: number) => decoder.decode(this.bytesOfToken(id), { stream: true }),
      flush: () => decoder.decode(),
    };
  }

  /** The bytes a token stands for (a copy-free view; do not modify). */
  bytesOfToken(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError('BAD_TOKEN_ID', `token id ${id} is outside 0..${this.vocabSize - 1}`);
    }
    return this.tokenBytes[id]!;
  }

  isSpecial(id: number): boolean {
    return this.specialIdSet.has(id);
  }

  private bytesOf(ids: readonly number[]): Uint8Array {
    let length = 0;
    for (const id of ids) length += this.bytesOfToken(id).length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const id of ids) {
      const bytes = this.tokenBytes[id]!;
      out.set(bytes, offset);
      offset += bytes.length;
    }
    return out;
  }

  private encodeChunk(chunk: string): readonly number[] {
    const cached = this.chunkCache.get(chunk);
    if (cached !== undefined) return cached;
    const ids = this.applyMerges(Array.from(utf8Encoder.encode(chunk)));
    if (this.chunkCache.size >= CHUNK_CACHE_LIMIT) this.chunkCache.clear();
    this.chunkCache.set(chunk, ids);
    return ids;
  }

  /** Repeatedly merges every occurrence (left to right) of the adjacent pair with the lowest rank. */
  private applyMerges(ids: number[]): number[] {
    while (ids.length > 1) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.mergeRank.get(pairKey(ids[i]!, ids[i + 1]!));
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      if (bestRank === Infinity) break;
      const [left, right] = this.spec.merges[bestRank]!;
      const merged: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === left && ids[i + 1] === right) {
          merged.push(256 + bestRank);
          i++;
        } else merged.push(ids[i]!);
      }
      ids = merged;
    }
    return ids;
  }
}

function validateSpec(spec: TokenizerSpec): void {
  const fail = (message: string): never => {
    throw new TokenizerError('BAD_SPEC', message);
  };
  if (spec === null || typeof spec !== 'object') fail('tokenizer spec must be an object');
  if (spec.type !== 'bpe') fail(`tokenizer type must be "bpe", got ${JSON.stringify(spec.type)}`);
  if (!Array.isArray(spec.merges)) fail('tokenizer merges must be an array');
  spec.merges.forEach((pair, rank) => {
    const firstNewId = 256 + rank;
    const valid =
      Array.isArray(pair) &&
      pair.length === 2 &&
      pair.every((id) => Number.isInteger(id) && id >= 0 && id < firstNewId);
    if (!valid) fail(`merge ${rank} must be two ids below ${firstNewId} (earlier tokens), got ${JSON.stringify(pair)}`);
  });
  if (spec.specials === null || typeof spec.specials !== 'object' || Array.isArray(spec.specials)) {
    fail('tokenizer specials must be an object of string → id');
  }
  const entries = Object.entries(spec.specials);
  const firstSpecialId = 256 + spec.merges.length;
  const ids = entries.map(([, id]) => id).sort((a, b) => a - b);
  ids.forEach((id, index) => {
    if (id !== firstSpecialId + index) {
      fail(`special ids must be ${firstSpecialId}..${firstSpecialId + entries.length - 1} (right after the merges), got ${JSON.stringify(spec.specials)}`);
    }
  });
  if (entries.some(([text]) => text.length === 0)) fail('a special string must not be empty');
  if (!(END_OF_TEXT in spec.specials)) fail(`specials must include ${END_OF_TEXT}`);
  if (firstSpecialId + entries.length > MAX_VOCAB_SIZE) fail(`vocabulary exceeds ${MAX_VOCAB_SIZE} ids`);
}
