// npm run generate -- --model FILE.bttt --prompt TEXT [--max-tokens N] [--temperature T] [--seed S]
//                     [--top-k K] [--top-p P] [--repetition-penalty R] [--repetition-window W] [--json]
// Text generation on the CPU reference model (src/engine/reference/model.ts) with the sampler of
// docs/SAMPLING.md: the same tokens the WebGPU engine must produce for the same model, prompt and seed.
// Prints the generated text as it comes (or, with --json, one object {text, tokens, promptTokens, stopReason});
// tokens are the generated ids, without the end-of-text token that stops generation.
import { pathToFileURL } from 'node:url';
import { ContextOverflowError } from '../engine/reference/attention';
import { ReferenceModel } from '../engine/reference/model';
import { CounterRng, sample, SamplingParamsError, checkSamplingParams } from '../engine/sampling';
import { Tokenizer, TokenizerError } from '../engine/tokenizer/tokenizer';
import { DEFAULT_SAMPLING, type ModelFile, type SamplingParams } from '../engine/types';
import { fail, parseCliArgs, readModelFile, usageError } from './common';

const USAGE = `usage: npm run generate -- --model FILE.bttt --prompt TEXT [options]
  --max-tokens N           tokens to generate at most (default ${DEFAULT_SAMPLING.maxTokens})
  --temperature T          0 = greedy (default ${DEFAULT_SAMPLING.temperature})
  --seed S                 u32 seed of the sampler (default ${DEFAULT_SAMPLING.seed})
  --top-k K                0 = off (default ${DEFAULT_SAMPLING.topK})
  --top-p P                1 = off (default ${DEFAULT_SAMPLING.topP})
  --repetition-penalty R   1 = off (default ${DEFAULT_SAMPLING.repetitionPenalty})
  --repetition-window W    recent tokens the penalty looks at (default ${DEFAULT_SAMPLING.repetitionWindow})
  --json                   print {text, tokens, promptTokens, stopReason} instead of the text`;

export interface GenerationResult {
  text: string;
  tokens: number[];
  promptTokens: number;
  stopReason: 'eot' | 'max-tokens' | 'context-full';
}

/**
 * Reads the prompt from a fresh state and samples up to `maxTokens` tokens. An empty prompt starts from the
 * end-of-text token (the boundary the training stories follow). `onText` receives the text as it completes.
 */
export function generate(model: ModelFile, prompt: string, params: SamplingParams, onText?: (text: string) => void): GenerationResult {
  checkSamplingParams(params);
  const tokenizer = Tokenizer.fromSpec(model.tokenizer);
  const runtime = new ReferenceModel(model);
  const encoded = tokenizer.encode(prompt);
  const promptIds = encoded.length > 0 ? encoded : [tokenizer.eotId];
  let logits: Float32Array = new Float32Array(0);
  for (const id of promptIds) logits = runtime.step(id); // a prompt past an attn layer's maxContext throws here

  const stream = [...promptIds];
  const generated: number[] = [];
  const decoder = tokenizer.createDecoder();
  const rng = new CounterRng(params.seed);
  const stopAtEot = params.stopAtEot ?? true;
  let stopReason: GenerationResult['stopReason'] = 'max-tokens';
  while (generated.length < params.maxTokens) {
    const id = sample(logits, params, stream, rng);
    if (stopAtEot && id === tokenizer.eotId) {
      stopReason = 'eot';
      break;
    }
    generated.push(id);
    stream.push(id);
    onText?.(decoder.push(id));
    if (generated.length === params.maxTokens) break; // no need to read the last token
    try {
      logits = runtime.step(id);
    } catch (e) {
      if (!(e instanceof ContextOverflowError)) throw e;
      stopReason = 'context-full';
      break;
    }
  }
  onText?.(decoder.flush());
  return { text: tokenizer.decode(generated), tokens: generated, promptTokens: promptIds.length, stopReason };
}

function numberOption(values: Record<string, unknown>, name: string, fallback: number, integer = false): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    usageError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got "${String(raw)}"`, USAGE);
  }
  return value;
}

function main(): void {
  const { values } = parseCliArgs(
    {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      'repetition-window': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (!values.model) usageError('--model is required', USAGE);
  if (values.prompt === undefined) usageError('--prompt is required (it may be empty: --prompt "")', USAGE);
  const seed = numberOption(values, 'seed', DEFAULT_SAMPLING.seed, true);
  if (seed < 0 || seed > 0xffffffff) usageError(`--seed must be a u32, got ${seed}`, USAGE);
  const maxTokens = numberOption(values, 'max-tokens', DEFAULT_SAMPLING.maxTokens, true);
  if (maxTokens < 0) usageError(`--max-tokens must be ≥ 0, got ${maxTokens}`, USAGE);
  const params: SamplingParams = {
    ...DEFAULT_SAMPLING,
    temperature: numberOption(values, 'temperature', DEFAULT_SAMPLING.temperature),
    topK: numberOption(values, 'top-k', DEFAULT_SAMPLING.topK, true),
    topP: numberOption(values, 'top-p', DEFAULT_SAMPLING.topP),
    repetitionPenalty: numberOption(values, 'repetition-penalty', DEFAULT_SAMPLING.repetitionPenalty),
    repetitionWindow: numberOption(values, 'repetition-window', DEFAULT_SAMPLING.repetitionWindow, true),
    seed,
    maxTokens,
  };
  try {
    checkSamplingParams(params);
  } catch (e) {
    if (e instanceof SamplingParamsError) usageError(e.message, USAGE);
    throw e;
  }

  const { model } = readModelFile(values.model);
  const started = performance.now();
  let result: GenerationResult;
  try {
    result = generate(model, values.prompt, params, values.json ? undefined : (text) => process.stdout.write(text));
  } catch (e) {
    if (e instanceof ContextOverflowError || e instanceof TokenizerError) fail(e.message);
    if (e instanceof Error && e.name === 'ReferenceModelError') fail(`${values.model}: ${e.message}`);
    throw e;
  }
  const seconds = (performance.now() - started) / 1000;
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write('\n');
    process.stderr.write(
      `${result.tokens.length} tokens after a ${result.promptTokens}-token prompt, stop: ${result.stopReason}, ` +
        `${((result.promptTokens + result.tokens.length) / seconds).toFixed(1)} tokens/s\n`,
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
