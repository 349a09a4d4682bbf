// Reads a tokenizer JSON (a TokenizerSpec, possibly with extra fields such as the trainer's "training"
// stats) into the bare spec. Used by the CLIs; the browser gets its tokenizer from the model file's header.
import type { TokenizerSpec } from '../types';
import { Tokenizer, TokenizerError } from './tokenizer';

export function tokenizerSpecFromJson(json: string, source: string): TokenizerSpec {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new TokenizerError('BAD_SPEC', `${source} is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object') throw new TokenizerError('BAD_SPEC', `${source} is not a JSON object`);
  const { type, merges, specials } = value as Record<string, unknown>;
  const spec = { type, merges, specials } as TokenizerSpec;
  Tokenizer.fromSpec(spec); // validates, with a precise message
  return spec;
}
