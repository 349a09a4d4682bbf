// What this GPU engine can run, decided from a model's config and the device's limits before anything is uploaded:
// a model the kernels, the sampler or the device's buffer limits refuse is refused here with words a person can act
// on, instead of failing halfway through the upload.
import type { ModelConfig } from '../types';
import { headSize } from '../model/spec';
import { SAMPLER_MAX_VOCAB } from './sampler';
import { MAX_HEAD_SIZE } from './shaders';

/** The device limits that bound one buffer (GPUSupportedLimits has both; a storage binding covers a whole buffer). */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Every reason this engine cannot run `config` on a device with `limits` (empty when it can). */
export function gpuSupportProblems(config: ModelConfig, limits: BufferLimits): string[] {
  const problems: string[] = [];
  const d = config.dModel;
  const H = config.nHeads;
  const f = headSize(config);
  if (f > MAX_HEAD_SIZE) {
    const minHeads = Math.ceil(d / MAX_HEAD_SIZE);
    problems.push(
      `this model needs head size ≤ ${MAX_HEAD_SIZE}, but its heads are ${f} wide (d_model ${d} / ${H} head${H === 1 ? '' : 's'}); ` +
        `train or export it with at least ${minHeads} heads`,
    );
  }
  if (config.vocabSize > SAMPLER_MAX_VOCAB) {
    problems.push(`this model needs a vocabulary of ≤ ${SAMPLER_MAX_VOCAB} tokens for the GPU sampler, but it has ${config.vocabSize}; use a smaller tokenizer`);
  }
  // The largest single buffers the engine allocates for this model (src/engine/gpu/layers/, sampler.ts).
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const K = config.ttt.convKernel;
  const buffers: [string, number][] = [
    ['token embedding', config.vocabSize * d * 4],
    ['logits', config.vocabSize * 4],
  ];
  if (!config.tieEmbeddings) buffers.push(['LM head', config.vocabSize * d * 4]);
  if (config.mixers.includes('ttt')) {
    buffers.push(['TTT state of a layer', (2 * H * f * f + 2 * H * f + 2 * Math.max(K - 1, 0) * d) * 4]);
    buffers.push(['TTT parameters of a layer', (H * d + H + config.ttt.miniBatch + 3 * H * f + H * f * f + 2 * K * d + 2 * d) * 4]);
  }
  for (const [what, bytes] of buffers) {
    if (bytes > perBuffer) {
      problems.push(`its ${what} needs ${mib(bytes)} in one GPU buffer, but this GPU allows at most ${mib(perBuffer)} per buffer; use a smaller model`);
    }
  }
  return problems;
}
