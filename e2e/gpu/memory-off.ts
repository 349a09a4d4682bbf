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
  /** The same tokens read again with memory off in chunks of 17 without drift (ttt_batch_rows): worst relative
   *  logit difference to the memory-off token path, and the largest |W̄ − W_init| afterwards. */
  chunkRelative: number;
  chunkStateDelta: number;
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
  const offLogits: Float32Array[] = [];
  let onOffRelativeDiff = 0;
  let maxDriftNorm = 0;
  for (let i = 0; i < sequence.length; i++) {
    const g = await gpu.step(sequence[i], { drift: true });
    offLogits.push(g);
    const { maxAbs, range, argmaxEqual } = compareLogits(g, ref.step(sequence[i]));
    perToken.push({ maxAbs, range, argmaxEqual, tieDistance: ref.nearestTies[ref.nearestTies.length - 1] });
    const onOff = compareLogits(g, onLogits[i]);
    onOffRelativeDiff = Math.max(onOffRelativeDiff, onOff.maxAbs / onOff.range);
    for (const layer of await gpu.readDrift()) for (const h of layer.heads) maxDriftNorm = Math.max(maxDriftNorm, h.norm, h.w0Norm);
  }
  const stateDelta = async () => {
    let delta = 0;
    for (const layer of gpu.tttLayers) {
      for (let head = 0; head < file.config.nHeads; head++) {
        for (const v of await gpu.tttMatrixDelta(layer, head)) delta = Math.max(delta, Math.abs(v));
      }
    }
    return delta;
  };
  const maxStateDelta = await stateDelta();

  // The chunk path (prefill's kernel, no drift) with memory off: the same logits, and the state still at W_init.
  gpu.reset();
  let chunkRelative = 0;
  const V = file.config.vocabSize;
  for (let at = 0; at < sequence.length; at += 17) {
    const chunk = sequence.slice(at, at + 17);
    const encoder = ctx.device.createCommandEncoder();
    gpu.encodeChunk(encoder, chunk, { logits: 'all' });
    ctx.device.queue.submit([encoder.finish()]);
    const logits = new Float32Array(await ctx.readBuffer(gpu.chunkLogits, chunk.length * V * 4));
    chunk.forEach((_, r) => (chunkRelative = Math.max(chunkRelative, compareLogits(logits.subarray(r * V, (r + 1) * V), offLogits[at + r]).relative)));
  }
  const chunkStateDelta = await stateDelta();

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
  return { perToken, maxStateDelta, maxDriftNorm, onOffRelativeDiff, chunkRelative, chunkStateDelta, backOn, memoryOnAfter, kvRefusal };
}
