// In-page profile of one model's decode step and chunked read: every dispatch in a pass of its own with timestamp
// queries (GpuModel's DispatchTimer), summed per kind of dispatch (the layer prefix dropped). A measurement for
// planning kernel work, not a test; run by profile.spec.ts (PROFILE=1).
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel, type DispatchTimer } from '../../src/engine/gpu/model';
import { loadTiny, tokenSequence } from './parity';
import type { KernelFeatures } from '../../src/engine/gpu/shaders';

export interface ProfileRow {
  kind: string;
  /** Dispatches of this kind per step (decode) or per chunk. */
  count: number;
  /** Microseconds per step or chunk, summed over the dispatches of this kind (median of the runs). */
  us: number;
}

export interface ProfileResult {
  adapter: string;
  chunkTokens: number;
  /** Tokens read before the timed chunk (and decode step). */
  position: number;
  decode: ProfileRow[];
  chunk: ProfileRow[];
  decodeUs: number;
  chunkUs: number;
}

class Timer implements DispatchTimer {
  readonly labels: string[] = [];
  constructor(readonly querySet: GPUQuerySet) {}
  pass(label: string): GPUComputePassTimestampWrites {
    const i = this.labels.push(label) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }
}

async function timed(ctx: GpuContext, record: (encoder: GPUCommandEncoder, timer: Timer) => void): Promise<Map<string, { count: number; us: number }>> {
  const device = ctx.device;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2048 });
  const timer = new Timer(querySet);
  const encoder = device.createCommandEncoder();
  record(encoder, timer);
  const n = timer.labels.length * 2;
  const resolve = device.createBuffer({ size: n * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  encoder.resolveQuerySet(querySet, 0, n, resolve, 0);
  device.queue.submit([encoder.finish()]);
  const raw = new BigInt64Array(await ctx.readBuffer(resolve));
  resolve.destroy();
  querySet.destroy();
  const kinds = new Map<string, { count: number; us: number }>();
  timer.labels.forEach((label, i) => {
    const kind = label.replace(/^(chunk\.)?(last\.)?l\d+\./, '$1$2');
    const k = kinds.get(kind) ?? { count: 0, us: 0 };
    k.count++;
    k.us += Number(raw[2 * i + 1] - raw[2 * i]) / 1000;
    kinds.set(kind, k);
  });
  return kinds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function rows(runs: Map<string, { count: number; us: number }>[]): ProfileRow[] {
  return [...runs[0].entries()].map(([kind, { count }]) => ({ kind, count, us: median(runs.map((r) => r.get(kind)!.us)) }));
}

/**
 * `position`: tokens read (in chunks, untimed) before the timed chunk and decode step: the cost at a longer context.
 * `logits`: the timed chunk's ('all': as reading a text with its loss does, the LM head over every token).
 */
export async function profileModel(name: string, chunkTokens: number, position = 0, logits: 'last' | 'all' = 'last', runs = 3, kernelFeatures: Partial<KernelFeatures> = {}, drift = false): Promise<ProfileResult> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create({ timestamps: true, kernelFeatures });
  if (!ctx.features.has('timestamp-query')) throw new Error('this adapter has no timestamp queries');
  const model = await GpuModel.create(ctx, file);
  const token = ctx.createBuffer('scratch', 'profile token', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  const ids = tokenSequence(chunkTokens, file.config.vocabSize, 37);
  const before = tokenSequence(position, file.config.vocabSize, 53);
  const readBefore = async () => {
    for (let at = 0; at < position; at += chunkTokens) {
      const encoder = ctx.device.createCommandEncoder();
      model.encodeChunk(encoder, before.slice(at, Math.min(position, at + chunkTokens)), { logits: 'last' });
      ctx.device.queue.submit([encoder.finish()]);
    }
    await ctx.device.queue.onSubmittedWorkDone();
  };
  const decodeRuns = [];
  const chunkRuns = [];
  for (let r = 0; r <= runs; r++) {
    model.reset();
    await readBefore();
    const chunk = await timed(ctx, (encoder, timer) => model.encodeChunk(encoder, ids, { logits, timer, drift }));
    ctx.device.queue.writeBuffer(token, 0, new Uint32Array([ids[0]]));
    const decode = await timed(ctx, (encoder, timer) => model.encodeStep(encoder, token, { timer }));
    if (r > 0) {
      chunkRuns.push(chunk);
      decodeRuns.push(decode);
    }
  }
  model.destroy();
  ctx.destroyBuffer(token);
  ctx.destroy();
  const decode = rows(decodeRuns);
  const chunk = rows(chunkRuns);
  const sum = (rs: ProfileRow[]) => rs.reduce((a, r) => a + r.us, 0);
  return { adapter: ctx.adapterInfo, chunkTokens, position, decode, chunk, decodeUs: sum(decode), chunkUs: sum(chunk) };
}
