// The TTT layers' drift statistics (shaders/ttt.wgsl, its drift flag): their layout in driftStats and its decoding.
import type { LayerDrift } from '../../types';

/** Floats per TTT head in driftStats: norm, cos, lossBefore, lossAfter, w0Norm (shaders/ttt.wgsl ttt_step). */
export const DRIFT_STATS_PER_HEAD = 5;

/** Decodes a copy of GpuModel.driftStats: one entry per TTT layer (`tttLayers` gives their model indices). */
export function parseDriftStats(raw: Float32Array, tttLayers: readonly number[], nHeads: number): LayerDrift[] {
  return tttLayers.map((layer, slot) => ({
    layer,
    heads: Array.from({ length: nHeads }, (_, h) => {
      const s = (slot * nHeads + h) * DRIFT_STATS_PER_HEAD;
      return { norm: raw[s], cos: raw[s + 1], lossBefore: raw[s + 2], lossAfter: raw[s + 3], w0Norm: raw[s + 4] };
    }),
  }));
}

/** driftStats after a reset: W̄ = W0 = w_init, so norm 0, cos 1, losses 0, w0Norm 0 (as the reference reports). */
export function initialDriftStats(tttLayers: number, nHeads: number): Float32Array<ArrayBuffer> {
  const initial = new Float32Array(tttLayers * nHeads * DRIFT_STATS_PER_HEAD);
  for (let i = 1; i < initial.length; i += DRIFT_STATS_PER_HEAD) initial[i] = 1;
  return initial;
}
