// Valid ranges of the sampling settings, and the repair of whatever localStorage held.
import { DEFAULT_SAMPLING, type SamplingParams } from '../../engine/types';

interface Range { min: number; max: number; integer?: boolean }
export const SAMPLING_RANGES: Record<'temperature' | 'topK' | 'topP' | 'repetitionPenalty' | 'maxTokens' | 'seed', Range> = {
  temperature: { min: 0, max: 2 },
  topK: { min: 0, max: 1000, integer: true },
  topP: { min: 0.05, max: 1 },
  repetitionPenalty: { min: 1, max: 2 },
  maxTokens: { min: 1, max: 2048, integer: true },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true },
};

export function sanitizeSampling(raw: unknown): SamplingParams {
  const out: SamplingParams = { ...DEFAULT_SAMPLING };
  if (!raw || typeof raw !== 'object') return out;
  const r = raw as Record<string, unknown>;
  for (const [key, range] of Object.entries(SAMPLING_RANGES) as [keyof typeof SAMPLING_RANGES, Range][]) {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (v < range.min || v > range.max || (range.integer && !Number.isInteger(v))) continue;
    out[key] = v;
  }
  return out;
}
