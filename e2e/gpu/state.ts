// In-page checks of the engine's repeated reads: Session.saveState (taken before every chat message) and
// GpuModel.tttMatrixDelta (the drift view's heatmap) reuse their staging buffers and submit once per read.
// Loaded by state.spec.ts with a dynamic import.
import { GpuContext } from '../../src/engine/gpu/context';
import { Session } from '../../src/engine/session';
import { ReferenceModel } from '../../src/engine/reference/model';
import { headSize } from '../../src/engine/model/spec';
import { loadTiny } from './parity';

/** Counts device.createBuffer and queue.submit calls on one context (instance properties shadow the prototype's). */
function countCalls(ctx: GpuContext): { buffers: number; submits: number } {
  const counts = { buffers: 0, submits: 0 };
  const { device } = ctx;
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (d: GPUBufferDescriptor) => {
    counts.buffers++;
    return createBuffer(d);
  };
  const queue = device.queue;
  const submit = queue.submit.bind(queue);
  queue.submit = (b: Iterable<GPUCommandBuffer>) => {
    counts.submits++;
    submit(b);
  };
  return counts;
}

const liveLabels = (ctx: GpuContext) => ctx.liveBuffers().map((b) => `${b.tag}:${b.label}:${b.size}`).sort();

export interface SaveStateCheck {
  name: string;
  /** Buffers created and live buffers (label:size) across the 2nd..5th saveState. */
  buffersCreated: number;
  liveBefore: string[];
  liveAfter: string[];
  scratchAfterFirst: number;
  scratchAfterLast: number;
  /** Bytes of the state saved, of a save after restoring it (equal), and of a save taken before restoring. */
  roundTripEqual: boolean;
  changedBeforeRestore: boolean;
  /** Sampled continuations (same seed) after the save and after the restore: the state, the pending token and the penalty history all count. */
  continuation: number[];
  continuationAfterRestore: number[];
}

export async function checkSaveState(name: string): Promise<SaveStateCheck> {
  const ctx = await GpuContext.create();
  const session = await Session.create(ctx, await loadTiny(name));
  // Hot and penalised, so that the continuation depends on the state, the pending token and the history (at
  // temperature 1 the random tiny models repeat one id).
  const sampled = { temperature: 2, topK: 0, topP: 1, repetitionPenalty: 2, repetitionWindow: 16, seed: 1, maxTokens: 6, stopAtEot: false };
  try {
    await session.generate('Once upon a time', sampled);
    const first = await session.saveState();
    const scratchAfterFirst = ctx.memoryReport().bytes.scratch;
    const liveBefore = liveLabels(ctx);
    const counts = countCalls(ctx);
    let saved = first;
    for (let i = 0; i < 4; i++) saved = await session.saveState();
    const buffersCreated = counts.buffers;
    const liveAfter = liveLabels(ctx);
    const scratchAfterLast = ctx.memoryReport().bytes.scratch;
    const continuation = (await session.generate(' there', sampled)).tokens;
    const changed = await session.saveState();
    session.restoreState(saved);
    const restored = await session.saveState();
    const continuationAfterRestore = (await session.generate(' there', sampled)).tokens;
    const same = (a: ArrayBuffer, b: ArrayBuffer) => a.byteLength === b.byteLength && new Uint8Array(a).every((v, i) => v === new Uint8Array(b)[i]);
    return {
      name,
      buffersCreated,
      liveBefore,
      liveAfter,
      scratchAfterFirst,
      scratchAfterLast,
      roundTripEqual: same(first, saved) && same(saved, restored),
      changedBeforeRestore: !same(saved, changed),
      continuation,
      continuationAfterRestore,
    };
  } finally {
    session.destroy();
    ctx.destroy();
  }
}

export interface MatrixDeltaCheck {
  /** max |GPU − reference| of W̄ − w_init over every head of every TTT layer, at each checked position. */
  maxAbs: number;
  maxRef: number;
  positions: number[];
  /** Submits per tttMatrixDelta call, and buffers created by all the calls after the first. */
  submitsPerCall: number;
  buffersCreated: number;
}

export async function checkMatrixDelta(): Promise<MatrixDeltaCheck> {
  const file = await loadTiny('tiny-ttt');
  const ctx = await GpuContext.create();
  const session = await Session.create(ctx, file);
  const ref = new ReferenceModel(file);
  const f = headSize(file.config);
  const ids = session.tokenizer.encode('Once upon a time, a fox ran far away.');
  let maxAbs = 0;
  let maxRef = 0;
  const positions: number[] = [];
  let counts: { buffers: number; submits: number } | null = null;
  try {
    await session.model.tttMatrixDelta(0, 0); // the staging buffer is made on the first read
    for (const [t, id] of ids.entries()) {
      await session.model.step(id);
      ref.step(id);
      // Inside a mini-batch (GW ≠ 0), at its last token (W0 ← W̄) and just after.
      if (![3, 15, 16, 20, ids.length - 1].includes(t)) continue;
      positions.push(t);
      counts ??= countCalls(ctx);
      for (const layer of session.model.tttLayers) {
        const s = ref.tttState(layer);
        const wInit = (file.tensors.get(`l${layer}.ttt.w_init`) as { data: Float32Array }).data;
        for (let h = 0; h < file.config.nHeads; h++) {
          const gpu = await session.model.tttMatrixDelta(layer, h);
          for (let e = 0; e < f * f; e++) {
            const r = s.Wbar[h * f * f + e] - wInit[h * f * f + e];
            maxAbs = Math.max(maxAbs, Math.abs(gpu[e] - r));
            maxRef = Math.max(maxRef, Math.abs(r));
          }
        }
      }
    }
    // Count calls alone (no steps in between).
    const alone = countCalls(ctx);
    for (let i = 0; i < 5; i++) await session.model.tttMatrixDelta(session.model.tttLayers[0], i % file.config.nHeads);
    return { maxAbs, maxRef, positions, submitsPerCall: alone.submits / 5, buffersCreated: alone.buffers + (counts?.buffers ?? 0) };
  } finally {
    session.destroy();
    ctx.destroy();
  }
}
