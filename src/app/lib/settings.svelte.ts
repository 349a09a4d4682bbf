// Sampling settings, persisted in localStorage. Anything unreadable or out of range falls back to the default.
import { DEFAULT_SAMPLING, type SamplingParams } from '../../engine/types';

const STORAGE_KEY = 'bit-ttt.sampling.v1';

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

function loadSampling(): SamplingParams {
  try {
    const text = localStorage.getItem(STORAGE_KEY);
    return sanitizeSampling(text ? JSON.parse(text) : null);
  } catch {
    return { ...DEFAULT_SAMPLING };
  }
}

class SamplingSettings {
  params = $state<SamplingParams>(loadSampling());

  /** Clamps a field to its range, then persists everything. */
  set<K extends keyof typeof SAMPLING_RANGES>(key: K, value: number): void {
    const range = SAMPLING_RANGES[key];
    if (!Number.isFinite(value)) return;
    let v = Math.min(range.max, Math.max(range.min, value));
    if (range.integer) v = Math.round(v);
    this.params[key] = v;
    this.save();
  }

  reset(): void {
    this.params = { ...DEFAULT_SAMPLING };
    this.save();
  }

  snapshot(): SamplingParams {
    return { ...$state.snapshot(this.params) };
  }

  private save(): void {
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(this.params)); } catch { /* private mode: settings stay for this visit */ }
  }
}

export const samplingSettings = new SamplingSettings();
