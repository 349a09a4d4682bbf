// In-page check of the GPU engine's "memory off" (TTT inner learning rate × 0) against the CPU reference's.
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { ReferenceModel } from '../../src/engine/reference/model';
import { compareLogits } from '../../src/engine/reference/compare';
import { loadTiny, tokenSequence, type TokenDiff } from './parity';

export interface MemoryOffResult {
  /** GPU memory off against the reference memory off, per token. */
  perToken: TokenDiff[];
  /** Largest |W̄ − W_init| of any TTT head after the memory-off reading (0: the state never moved). */
  maxStateDelta: number;
  /** Largest drift norm the GPU reported with memory off. */
  maxDriftNorm: number;
  /** Largest |Δlogit| between the GPU reading the same tokens with memory on and off, relative to the range. */
  onOffRelativeDiff: number;
  /** After setMemory(true) and reset(): the GPU against the reference with memory on, per token. */
  backOn: TokenDiff[];
  memoryOnAfter: boolean;
  kvRefusal: string;
}

export async function memoryOffParity(tokens: number): Promise<MemoryOffResult> {
  const file = await loadTiny('tiny-ttt');
  const ctx = await GpuContext.create();
  const gpu = await GpuModel.create(ctx, file, { kvInitialTokens: 8 });
  const sequence = tokenSequence(tokens, file.config.vocabSize, 101);

  // Memory on first, to have the logits that memory off must differ from.
  const onLogits: Float32Array[] = [];
  for (const token of sequence) onLogits.push(await gpu.step(token));

  gpu.reset();
  gpu.setMemory(false);
  const ref = new ReferenceModel(file, { recordNearTies: true });
  ref.setMemory(false);
  const perToken: TokenDiff[] = [];
  let onOffRelativeDiff = 0;
  let maxDriftNorm = 0;
  for (let i = 0; i < sequence.length; i++) {
    const g = await gpu.step(sequence[i], { drift: true });
    const { maxAbs, range, argmaxEqual } = compareLogits(g, ref.step(sequence[i]));
    perToken.push({ maxAbs, range, argmaxEqual, tieDistance: ref.nearestTies[ref.nearestTies.length - 1] });
    const onOff = compareLogits(g, onLogits[i]);
    onOffRelativeDiff = Math.max(onOffRelativeDiff, onOff.maxAbs / onOff.range);
    for (const layer of await gpu.readDrift()) for (const h of layer.heads) maxDriftNorm = Math.max(maxDriftNorm, h.norm, h.w0Norm);
  }
  let maxStateDelta = 0;
  for (const layer of gpu.tttLayers) {
    for (let head = 0; head < file.config.nHeads; head++) {
      for (const v of await gpu.tttMatrixDelta(layer, head)) maxStateDelta = Math.max(maxStateDelta, Math.abs(v));
    }
  }

  // Switched back on (a setting kept across reset): the GPU follows the reference with memory on again.
  gpu.setMemory(true);
  gpu.reset();
  const refOn = new ReferenceModel(file, { recordNearTies: true });
  const backOn: TokenDiff[] = [];
  for (const token of sequence.slice(0, 20)) {
    const { maxAbs, range, argmaxEqual } = compareLogits(await gpu.step(token), refOn.step(token));
    backOn.push({ maxAbs, range, argmaxEqual, tieDistance: refOn.nearestTies[refOn.nearestTies.length - 1] });
  }
  const memoryOnAfter = gpu.memoryOn;
  gpu.destroy();

  let kvRefusal = '';
  const kv = await GpuModel.create(ctx, await loadTiny('tiny-kv'), { kvInitialTokens: 8 });
  try {
    kv.setMemory(false);
  } catch (e) {
    kvRefusal = `${(e as Error).name}: ${(e as Error).message}`;
  }
  kv.destroy();
  ctx.destroy();
  return { perToken, maxStateDelta, maxDriftNorm, onOffRelativeDiff, backOn, memoryOnAfter, kvRefusal };
}
