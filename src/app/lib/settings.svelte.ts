// Sampling settings, persisted in localStorage. Anything unreadable or out of range falls back to the default.
import { DEFAULT_SAMPLING, type SamplingParams } from '../../engine/types';
import { SAMPLING_RANGES, sanitizeSampling } from './sampling';

export { SAMPLING_RANGES };

const STORAGE_KEY = 'bit-ttt.sampling.v1';

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
