import { describe, expect, it } from 'vitest';
import { TINY_MODELS, WIDE_HEAD_MODEL } from '../format/tiny';
import { gpuSupportProblems } from './support';
import { SAMPLER_MAX_VOCAB } from './sampler';

// WebGPU's default limits (a device asks for the adapter's, which are at least these).
const DEFAULT_LIMITS = { maxBufferSize: 256 * 1024 * 1024, maxStorageBufferBindingSize: 128 * 1024 * 1024 };

describe('gpuSupportProblems', () => {
  it('accepts the shipped tiny models', () => {
    for (const def of TINY_MODELS) expect(gpuSupportProblems(def.config, DEFAULT_LIMITS)).toEqual([]);
  });

  it('refuses a head over the kernels\' limit with what to change', () => {
    const problems = gpuSupportProblems(WIDE_HEAD_MODEL.config, DEFAULT_LIMITS);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^this model needs head size ≤ 256, but its heads are 512 wide \(d_model 512 \/ 1 head\); train or export it with at least 2 heads$/);
  });

  it('refuses a vocabulary over the sampler\'s limit', () => {
    const config = { ...TINY_MODELS[0].config, vocabSize: SAMPLER_MAX_VOCAB + 1 };
    const problems = gpuSupportProblems(config, DEFAULT_LIMITS);
    expect(problems).toEqual([`this model needs a vocabulary of ≤ ${SAMPLER_MAX_VOCAB} tokens for the GPU sampler, but it has ${SAMPLER_MAX_VOCAB + 1}; use a smaller tokenizer`]);
  });

  it('refuses a buffer over the device\'s per-buffer limit, naming the buffer and both sizes', () => {
    // 50 000 × 1024 f32 = 195.3 MiB of embedding, over a 128 MiB binding limit.
    const config = { ...TINY_MODELS[0].config, vocabSize: 50_000, dModel: 1024, nHeads: 8, tieEmbeddings: false };
    const problems = gpuSupportProblems(config, DEFAULT_LIMITS);
    expect(problems).toEqual([
      'its token embedding needs 195.3 MiB in one GPU buffer, but this GPU allows at most 128.0 MiB per buffer; use a smaller model',
      'its LM head needs 195.3 MiB in one GPU buffer, but this GPU allows at most 128.0 MiB per buffer; use a smaller model',
    ]);
    expect(gpuSupportProblems(config, { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 30 })).toEqual([]);
  });

  it('sizes a TTT layer\'s state and parameters as the GPU model allocates them', () => {
    // One head of 2048: the state alone is 2·2048²·4 B = 32 MiB plus vectors.
    const config = { ...WIDE_HEAD_MODEL.config, dModel: 2048 };
    const problems = gpuSupportProblems(config, { maxBufferSize: 32 * 1024 * 1024, maxStorageBufferBindingSize: 32 * 1024 * 1024 });
    expect(problems.some((p) => p.startsWith('its TTT state of a layer needs 32.1 MiB'))).toBe(true);
    expect(problems.some((p) => p.startsWith('its TTT parameters of a layer'))).toBe(false); // 16 MiB of w_init
  });
});
