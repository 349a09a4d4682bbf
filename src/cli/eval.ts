// npm run eval -- --model FILE.bttt --data TEXT [--limit-bytes N] [--context N] [--buckets K]
//                  [--memory on|off] [--read-twice] [--recall [--recall-probe FILE] [--recall-items N]] [--json]
// Bits per byte of a model on a text, on the CPU reference model (src/engine/reference/model.ts).
// The text is encoded with the model's own tokenizer exactly as prepare-data encodes it
// (src/engine/tokenizer/corpus.ts), then cut into consecutive windows of `context` tokens; the state is
// reset at the start of every window and each window predicts the token after each of its positions, so
// every token but the very first is predicted once. bpb = Σ −log2 p(target) / Σ bytes covered by the
// targets (an eot target covers 1 byte). byPosition: mean loss (nats/token) and bpb in K equal buckets of
// the window position; evaluating at 2× or 4× the training context shows how loss holds up past it.
// The memory diagnostics of docs/DIAGNOSTICS.md: --memory off (TTT inner learning rate × 0), --read-twice
// (every story read twice in one stream) and --recall (the associative-recall probe, probes/recall-v1.json).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { parseBttt } from '../engine/format/reader';
import { ReferenceModel } from '../engine/reference/model';
import { coveredBytes, encodeCorpus } from '../engine/tokenizer/corpus';
import { END_OF_TEXT, Tokenizer } from '../engine/tokenizer/tokenizer';
import { parseRecallProbe, type RecallItem, type RecallProbe } from '../engine/diagnostics/recallProbe';
import type { ModelFile } from '../engine/types';

export interface EvalOptions {
  /** Window length in tokens (default: the model's contextLength). */
  context?: number;
  /** Position buckets for byPosition (default 4). */
  buckets?: number;
  /** Use only the first tokens of the text whose covered bytes stay within this limit. */
  limitBytes?: number;
  /** 'off': TTT layers read without test-time learning (refused for a model without TTT layers). */
  memory?: MemoryMode;
  onProgress?: (predicted: number, total: number) => void;
}

export type MemoryMode = 'on' | 'off';

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
  memory: MemoryMode;
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

  const reference = referenceModel(model, options.memory);
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
    memory: options.memory ?? 'on',
  };
}

/** The CPU reference model with its memory on or off; memory off is refused for a model without TTT layers. */
function referenceModel(model: ModelFile, memory: MemoryMode = 'on'): ReferenceModel {
  const reference = new ReferenceModel(model);
  if (memory === 'off') {
    if (!reference.hasTtt) {
      throw new EvalError(`--memory off needs TTT layers, and this model has none (layers: ${model.config.mixers.join(', ')}); it has no test-time memory to switch off`);
    }
    reference.setMemory(false);
  }
  return reference;
}

function modelTokenizer(model: ModelFile): Tokenizer {
  const tokenizer = Tokenizer.fromSpec(model.tokenizer);
  if (tokenizer.vocabSize !== model.config.vocabSize) {
    throw new EvalError(`the model's tokenizer has ${tokenizer.vocabSize} ids but its config says vocabSize ${model.config.vocabSize}`);
  }
  return tokenizer;
}

/** Index of the largest logit (the first one on a tie, as torch.argmax). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

export interface ReadTwiceOptions {
  /** Use only the first whole stories whose bytes (text + 1 for the eot) stay within this limit. */
  limitBytes?: number;
  memory?: MemoryMode;
  onProgress?: (story: number, stories: number) => void;
}

export interface ReadTwiceResult {
  /** Stories read (twice each). */
  stories: number;
  /** Stories whose stream [EOT] s [EOT] s does not fit an attention model's maxContext. */
  skipped: number;
  /** Targets scored in each reading (the tokens of the stories read). */
  tokens: number;
  /** Mean nats per token of the first and of the second copy, weighted by tokens. */
  firstNats: number;
  secondNats: number;
  /** 1 − secondNats / firstNats. */
  drop: number;
}

/** The stories of a text: split at the end-of-text marker, trimmed, empty ones dropped. */
export function splitStories(text: string): string[] {
  return text.split(END_OF_TEXT).map((story) => story.trim()).filter((story) => story.length > 0);
}

/**
 * Read twice (docs/DIAGNOSTICS.md): for each story s, from a reset state, the stream [EOT] s [EOT] s; the
 * loss of each copy's n targets, summed over stories and divided by the targets.
 */
export function readTwice(model: ModelFile, text: string, options: ReadTwiceOptions = {}): ReadTwiceResult {
  const tokenizer = modelTokenizer(model);
  let stories = splitStories(text);
  if (options.limitBytes !== undefined) {
    const limit = positiveInteger(options.limitBytes, 'limit-bytes', 1);
    const encoder = new TextEncoder();
    let used = 0;
    let kept = 0;
    while (kept < stories.length && used + encoder.encode(stories[kept]).length + 1 <= limit) used += encoder.encode(stories[kept++]).length + 1;
    stories = stories.slice(0, kept);
  }
  if (stories.length === 0) throw new EvalError('the text has no whole story to read twice (stories are separated by <|endoftext|>; check --limit-bytes)');
  const reference = referenceModel(model, options.memory);
  const bounded = model.config.mixers.includes('attn');
  const eot = tokenizer.eotId;
  let firstNats = 0;
  let secondNats = 0;
  let tokens = 0;
  let read = 0;
  let skipped = 0;
  stories.forEach((story, index) => {
    const ids = tokenizer.encode(story);
    const n = ids.length;
    if (bounded && 2 * n + 2 > model.config.maxContext) {
      skipped++;
      return;
    }
    const stream = [eot, ...ids, eot, ...ids];
    reference.reset();
    // Stream position p predicts stream[p + 1]: the first copy is stream[1..n], the second stream[n+2..2n+1].
    for (let p = 0; p < stream.length - 1; p++) {
      const logits = reference.step(stream[p]!);
      const target = p + 1;
      if (target <= n) firstNats += negativeLogProbability(logits, stream[target]!);
      else if (target >= n + 2) secondNats += negativeLogProbability(logits, stream[target]!);
    }
    tokens += n;
    read++;
    options.onProgress?.(index + 1, stories.length);
  });
  if (read === 0) throw new EvalError(`every story (${skipped}) is too long to read twice within the model's maxContext ${model.config.maxContext}`);
  return { stories: read, skipped, tokens, firstNats: firstNats / tokens, secondNats: secondNats / tokens, drop: 1 - secondNats / firstNats };
}

/** Greedy-answer accuracy of some queries, overall or in one distance bucket. */
export interface RecallScore {
  queries: number;
  correct: number;
  accuracy: number;
}

export interface RecallBucket extends RecallScore {
  /** Distances [from, to) in tokens between the fact's answer and the question's answer. */
  from: number;
  to: number;
}

export interface RecallResult extends RecallScore {
  probe: string;
  items: number;
  /** Items longer than an attention model's maxContext, not scored. */
  skipped: number;
  byDistance: RecallBucket[];
  /** The same items with the facts naming other names: what guessing likely names scores. */
  control: RecallScore & { byDistance: RecallBucket[] };
}

/** Distance buckets of the recall report (tokens); the probe's distances are 110–563. */
export const RECALL_DISTANCE_EDGES = [0, 192, 384, Infinity] as const;

/** Anything that reads a token and returns the next token's logits. */
export interface TokenStepper {
  reset(): void;
  step(token: number): Float32Array;
}

/**
 * Scores items: reset, read [EOT] + ids; a query is correct iff, before each of its answer tokens, the argmax
 * of the logits is that token (teacher forcing, which equals greedy decoding of the answer).
 */
export function scoreRecallItems(stepper: TokenStepper, items: readonly RecallItem[], eot: number): { correct: boolean; distance: number }[] {
  const outcomes: { correct: boolean; distance: number }[] = [];
  for (const item of items) {
    const last = Math.max(...item.queries.map((q) => q.answerEnd));
    const stream = [eot, ...item.ids.slice(0, last)];
    // predicted[i] = argmax after reading stream[0..i], the guess for stream[i + 1] = ids[i].
    const predicted = new Int32Array(last);
    stepper.reset();
    for (let i = 0; i < last; i++) predicted[i] = argmax(stepper.step(stream[i]!));
    for (const q of item.queries) {
      let correct = true;
      for (let p = q.answerStart; p < q.answerEnd; p++) if (predicted[p] !== item.ids[p]) correct = false;
      outcomes.push({ correct, distance: q.distance });
    }
  }
  return outcomes;
}

function summarize(outcomes: { correct: boolean; distance: number }[]): RecallScore & { byDistance: RecallBucket[] } {
  const score = (list: typeof outcomes): RecallScore => {
    const correct = list.filter((o) => o.correct).length;
    return { queries: list.length, correct, accuracy: list.length > 0 ? correct / list.length : NaN };
  };
  const byDistance: RecallBucket[] = [];
  for (let b = 0; b + 1 < RECALL_DISTANCE_EDGES.length; b++) {
    const from = RECALL_DISTANCE_EDGES[b]!;
    const to = RECALL_DISTANCE_EDGES[b + 1]!;
    byDistance.push({ from, to, ...score(outcomes.filter((o) => o.distance >= from && o.distance < to)) });
  }
  return { ...score(outcomes), byDistance };
}

/**
 * The recall probe on the CPU reference. Refused when the model's tokenizer does not encode the probe's text
 * to the probe's ids (a probe is made for one tokenizer).
 */
export function evaluateRecall(model: ModelFile, probe: RecallProbe, options: { memory?: MemoryMode; probeName?: string; items?: number } = {}): RecallResult {
  if (options.items !== undefined) {
    // The first N items and their controls: a cheaper, still balanced, run (the items cycle through the filler lengths).
    const n = positiveInteger(options.items, 'recall-items', 1);
    probe = { ...probe, items: probe.items.slice(0, n), controls: probe.controls.slice(0, n) };
  }
  const tokenizer = modelTokenizer(model);
  for (const item of [...probe.items, ...probe.controls]) {
    const ids = tokenizer.encode(item.text);
    if (ids.length !== item.ids.length || ids.some((id, i) => id !== item.ids[i])) {
      throw new EvalError(`the recall probe was made with the tokenizer "${probe.tokenizer}", and this model's tokenizer encodes its text differently; make a probe for it with scripts/make-recall-probe.ts`);
    }
  }
  const fits = (item: RecallItem) => !model.config.mixers.includes('attn') || item.ids.length + 1 <= model.config.maxContext;
  const items = probe.items.filter(fits);
  const controls = probe.controls.filter(fits);
  const reference = referenceModel(model, options.memory);
  const main = summarize(scoreRecallItems(reference, items, tokenizer.eotId));
  const control = summarize(scoreRecallItems(reference, controls, tokenizer.eotId));
  return { probe: options.probeName ?? `recall-v${probe.version}`, items: items.length, skipped: probe.items.length - items.length, ...main, control };
}

/** Reads and checks a probe file for a model (its ids must fit the model's vocabulary). */
export function loadRecallProbe(json: string, model: ModelFile): RecallProbe {
  try {
    return parseRecallProbe(json, model.config.vocabSize);
  } catch (error) {
    throw new EvalError(`recall probe: ${(error as Error).message}`);
  }
}

function usage(message: string): never {
  console.error(`eval: ${message}`);
  console.error('usage: npm run eval -- --model FILE.bttt --data TEXT [--limit-bytes N] [--context N] [--buckets K]');
  console.error('                        [--memory on|off] [--read-twice] [--recall [--recall-probe FILE] [--recall-items N]] [--json]');
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
        memory: { type: 'string', default: 'on' },
        'read-twice': { type: 'boolean', default: false },
        recall: { type: 'boolean', default: false },
        'recall-probe': { type: 'string', default: 'probes/recall-v1.json' },
        'recall-items': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.model === undefined) usage('--model FILE.bttt is required');
  if (values.data === undefined) usage('--data TEXT is required');
  if (values.memory !== 'on' && values.memory !== 'off') usage(`--memory must be on or off, got ${values.memory}`);
  const memory: MemoryMode = values.memory;
  const options: EvalOptions = {
    limitBytes: optionalInteger(values['limit-bytes'], 'limit-bytes'),
    context: optionalInteger(values.context, 'context'),
    buckets: optionalInteger(values.buckets, 'buckets'),
    memory,
  };
  const modelBytes = readInput(values.model, 'model');
  const text = readInput(values.data, 'data').toString('utf8');
  const probeJson = values.recall ? readInput(values['recall-probe'], 'recall probe').toString('utf8') : undefined;
  let result: EvalResult;
  let twice: ReadTwiceResult | undefined;
  let recall: RecallResult | undefined;
  try {
    const model = parseBttt(new Uint8Array(modelBytes.buffer, modelBytes.byteOffset, modelBytes.byteLength));
    let lastReport = performance.now();
    options.onProgress = (predicted, total) => {
      if (performance.now() - lastReport < 5000) return;
      lastReport = performance.now();
      console.error(`  ${predicted}/${total} tokens`);
    };
    // Refuse memory off and a probe made for another tokenizer before the long bpb pass.
    if (memory === 'off') referenceModel(model, memory);
    const probe = probeJson === undefined ? undefined : loadRecallProbe(probeJson, model);
    result = evaluateModel(model, text, options);
    if (values['read-twice']) {
      twice = readTwice(model, text, {
        limitBytes: options.limitBytes,
        memory,
        onProgress: (story, stories) => {
          if (performance.now() - lastReport < 5000) return;
          lastReport = performance.now();
          console.error(`  read twice: ${story}/${stories} stories`);
        },
      });
    }
    if (probe) recall = evaluateRecall(model, probe, { memory, probeName: values['recall-probe'], items: optionalInteger(values['recall-items'], 'recall-items') });
  } catch (error) {
    console.error(`eval: ${values.model}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  const report = { model: values.model, data: values.data, ...result, ...(twice && { readTwice: twice }), ...(recall && { recall }) };
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`${values.model} on ${values.data} (memory ${memory}): ${result.bpb.toFixed(4)} bits/byte, ${result.loss.toFixed(4)} nats/token`);
  console.log(`  ${result.tokens} tokens, ${result.bytes} bytes, ${result.windows} windows of ${result.context}, ${result.tokensPerSecond.toFixed(0)} tokens/s`);
  for (const bucket of result.byPosition) {
    console.log(`  positions ${bucket.from}–${bucket.to - 1}: ${bucket.loss.toFixed(4)} nats/token, ${bucket.bpb.toFixed(4)} bpb`);
  }
  if (twice) {
    console.log(`read twice: ${twice.stories} stories (${twice.skipped} skipped), first ${twice.firstNats.toFixed(4)}, second ${twice.secondNats.toFixed(4)} nats/token, drop ${(100 * twice.drop).toFixed(1)} %`);
  }
  if (recall) {
    const pct = (score: RecallScore) => `${score.correct}/${score.queries} = ${(100 * score.accuracy).toFixed(1)} %`;
    console.log(`recall (${recall.probe}, ${recall.items} items, ${recall.skipped} skipped): ${pct(recall)}; control (facts name other names): ${pct(recall.control)}`);
    recall.byDistance.forEach((bucket, i) => {
      console.log(`  distance ${bucket.from}–${bucket.to === Infinity ? '' : bucket.to - 1}: ${pct(bucket)}; control ${pct(recall!.control.byDistance[i]!)}`);
    });
  }
}

// Run as a CLI, not when a test imports evaluateModel.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
