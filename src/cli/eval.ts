// npm run eval -- --model FILE.bttt --data TEXT [--limit-bytes N] [--context N] [--buckets K] [--json]
// Bits per byte of a model on a text, on the CPU reference model (src/engine/reference/model.ts).
// The text is encoded with the model's own tokenizer exactly as prepare-data encodes it
// (src/engine/tokenizer/corpus.ts), then cut into consecutive windows of `context` tokens; the state is
// reset at the start of every window and each window predicts the token after each of its positions, so
// every token but the very first is predicted once. bpb = Σ −log2 p(target) / Σ bytes covered by the
// targets (an eot target covers 1 byte). byPosition: mean loss (nats/token) and bpb in K equal buckets of
// the window position; evaluating at 2× or 4× the training context shows how loss holds up past it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { parseBttt } from '../engine/format/reader';
import { ReferenceModel } from '../engine/reference/model';
import { coveredBytes, encodeCorpus } from '../engine/tokenizer/corpus';
import { Tokenizer } from '../engine/tokenizer/tokenizer';
import type { ModelFile } from '../engine/types';

export interface EvalOptions {
  /** Window length in tokens (default: the model's contextLength). */
  context?: number;
  /** Position buckets for byPosition (default 4). */
  buckets?: number;
  /** Use only the first tokens of the text whose covered bytes stay within this limit. */
  limitBytes?: number;
  onProgress?: (predicted: number, total: number) => void;
}

export interface PositionBucket {
  /** Window positions [from, to) — position p predicts the token after the p-th token of its window. */
  from: number;
  to: number;
  tokens: number;
  /** Mean nats per predicted token. */
  loss: number;
  bpb: number;
}

export interface EvalResult {
  bpb: number;
  /** Predicted tokens. */
  tokens: number;
  /** UTF-8 bytes covered by the predicted tokens. */
  bytes: number;
  /** Mean nats per predicted token. */
  loss: number;
  bytesPerToken: number;
  context: number;
  windows: number;
  byPosition: PositionBucket[];
  seconds: number;
  tokensPerSecond: number;
}

export class EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalError';
  }
}

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < 1) throw new EvalError(`${name} must be a positive integer, got ${value}`);
  return result;
}

/** −ln softmax(logits)[target], computed in f64 with the max subtracted. */
function negativeLogProbability(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (const value of logits) if (value > max) max = value;
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - max);
  return Math.log(sum) - (logits[target]! - max);
}

export function evaluateModel(model: ModelFile, text: string, options: EvalOptions = {}): EvalResult {
  const started = performance.now();
  const config = model.config;
  const context = positiveInteger(options.context, 'context', config.contextLength);
  const bucketCount = positiveInteger(options.buckets, 'buckets', 4);
  if (bucketCount > context) throw new EvalError(`buckets (${bucketCount}) must not exceed the context (${context})`);
  if (config.mixers.includes('attn') && context > config.maxContext) {
    throw new EvalError(`context ${context} exceeds the model's maxContext ${config.maxContext} (its attention KV cache)`);
  }
  const tokenizer = Tokenizer.fromSpec(model.tokenizer);
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new EvalError(`the model's tokenizer has ${tokenizer.vocabSize} ids but its config says vocabSize ${config.vocabSize}`);
  }
  let ids = encodeCorpus(tokenizer, text).ids;
  if (options.limitBytes !== undefined) {
    const limit = positiveInteger(options.limitBytes, 'limit-bytes', 1);
    let covered = 0;
    let kept = 0;
    while (kept < ids.length && covered + coveredBytes(tokenizer, ids[kept]!) <= limit) covered += coveredBytes(tokenizer, ids[kept++]!);
    ids = ids.slice(0, kept);
  }
  if (ids.length < 2) throw new EvalError(`the text gives ${ids.length} token(s); at least 2 are needed to predict one`);

  const reference = new ReferenceModel(model);
  const bucketOf = (position: number) => Math.floor((position * bucketCount) / context);
  const bucketNats = new Float64Array(bucketCount);
  const bucketBytes = new Float64Array(bucketCount);
  const bucketTokens = new Float64Array(bucketCount);
  const total = ids.length - 1;
  let windows = 0;
  for (let start = 0; start < total; start += context) {
    reference.reset();
    windows++;
    const length = Math.min(context, total - start);
    for (let position = 0; position < length; position++) {
      const logits = reference.step(ids[start + position]!);
      const target = ids[start + position + 1]!;
      const bucket = bucketOf(position);
      bucketNats[bucket] += negativeLogProbability(logits, target);
      bucketBytes[bucket] += coveredBytes(tokenizer, target);
      bucketTokens[bucket]++;
    }
    options.onProgress?.(start + length, total);
  }

  const sum = (values: Float64Array) => values.reduce((acc, value) => acc + value, 0);
  const nats = sum(bucketNats);
  const bytes = sum(bucketBytes);
  const byPosition: PositionBucket[] = [];
  for (let bucket = 0; bucket < bucketCount; bucket++) {
    const tokens = bucketTokens[bucket]!;
    byPosition.push({
      from: Math.ceil((bucket * context) / bucketCount),
      to: Math.ceil(((bucket + 1) * context) / bucketCount),
      tokens,
      loss: tokens > 0 ? bucketNats[bucket]! / tokens : NaN,
      bpb: tokens > 0 ? bucketNats[bucket]! / Math.LN2 / bucketBytes[bucket]! : NaN,
    });
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    bpb: nats / Math.LN2 / bytes,
    tokens: total,
    bytes,
    loss: nats / total,
    bytesPerToken: bytes / total,
    context,
    windows,
    byPosition,
    seconds,
    tokensPerSecond: total / seconds,
  };
}

function usage(message: string): never {
  console.error(`eval: ${message}`);
  console.error('usage: npm run eval -- --model FILE.bttt --data TEXT [--limit-bytes N] [--context N] [--buckets K] [--json]');
  process.exit(2);
}

function optionalInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) usage(`--${name} must be a positive integer, got ${value}`);
  return parsed;
}

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    usage(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: 'string' },
        data: { type: 'string' },
        'limit-bytes': { type: 'string' },
        context: { type: 'string' },
        buckets: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.model === undefined) usage('--model FILE.bttt is required');
  if (values.data === undefined) usage('--data TEXT is required');
  const options: EvalOptions = {
    limitBytes: optionalInteger(values['limit-bytes'], 'limit-bytes'),
    context: optionalInteger(values.context, 'context'),
    buckets: optionalInteger(values.buckets, 'buckets'),
  };
  const modelBytes = readInput(values.model, 'model');
  const text = readInput(values.data, 'data').toString('utf8');
  let result: EvalResult;
  try {
    const model = parseBttt(new Uint8Array(modelBytes.buffer, modelBytes.byteOffset, modelBytes.byteLength));
    let lastReport = performance.now();
    options.onProgress = (predicted, total) => {
      if (performance.now() - lastReport < 5000) return;
      lastReport = performance.now();
      console.error(`  ${predicted}/${total} tokens`);
    };
    result = evaluateModel(model, text, options);
  } catch (error) {
    console.error(`eval: ${values.model}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  const report = { model: values.model, data: values.data, ...result };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`${values.model} on ${values.data}: ${result.bpb.toFixed(4)} bits/byte, ${result.loss.toFixed(4)} nats/token`);
  console.log(`  ${result.tokens} tokens, ${result.bytes} bytes, ${result.windows} windows of ${result.context}, ${result.tokensPerSecond.toFixed(0)} tokens/s`);
  for (const bucket of result.byPosition) {
    console.log(`  positions ${bucket.from}–${bucket.to - 1}: ${bucket.loss.toFixed(4)} nats/token, ${bucket.bpb.toFixed(4)} bpb`);
  }
}

// Run as a CLI, not when a test imports evaluateModel.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
