// The attention mixer, full ("attn") or sliding-window ("swa") (MATH.md; shaders/attention.wgsl):
// [q|k|v|g] = W_in · quantise(RMSNorm(x)); [a causal conv of q, k, v;] RoPE on q, k; softmax attention per head
// over the KV cache; x += W_o · quantise(RMSNorm(o) [⊙ gelu(g)]). Its reading state is the KV cache ([slots, 2, d]:
// k then v per slot; "attn" grows it by doubling, "swa" is a ring of `window` slots) and the conv histories.
// Decode: one dispatch per layer between the fused matvecs (a workgroup per head: [conv,] RoPE, append, attend
// with split-K spans). Chunk: every token's q, k rotated and k, v kept in the chunk's own rows (rope_rows); "attn"
// appends them, then attends from the cache; "swa" gathers the window before the chunk and the chunk's rows, attends
// from them, then appends. attend_rows runs the decode step's spans in its merge order: the same bits.
import { attnConfig, headSize } from '../../model/spec';
import { ropePhaseSteps } from '../pack';
import { groups, NORM_RMS, NORM_RMS_GATE, type LayerBuilder, type NormInput } from './builder';
import type { Bindings, PipelineSpec } from './dispatch';
import { DispatchLayer } from './layer';

export class AttentionMixer extends DispatchLayer {
  /** [slots, 2, d] f32: k then v per slot; replaced by resize(). */
  cache: GPUBuffer;
  slots: number;
  /** config.attn.convKernel > 0: the pre-conv q, k, v histories, [3, K−1, d] f32 (tagged kv-cache: decode state). */
  readonly convHistory: GPUBuffer | null;
  private readonly slotBytes: number;
  private readonly allocateCache: (slots: number) => GPUBuffer;

  constructor(b: LayerBuilder, readonly index: number, readonly kind: 'attn' | 'swa', initialSlots: number) {
    super(b);
    const c = b.config;
    const attn = attnConfig(c);
    const { dModel: d, nHeads: H } = c;
    const p = `l${index}.`;
    const { kernels, step, chunk } = b;
    this.slotBytes = 2 * d * 4;

    const norm = b.mixerNorm(p);
    const inNames = [p + 'attn.wq', p + 'attn.wk', p + 'attn.wv'];
    if (attn.gate) inNames.push(p + 'attn.wg');
    const wIn = b.packed(p + 'attn.in', inNames); // q, k, v[, g] at 0, d, 2d[, 3d] of mixIn
    const wo = b.packed(p + 'attn.wo', [p + 'attn.wo']);
    const subnorm = b.floatWeight(p + 'attn.subnorm');
    const ropeSteps = b.once('rope_phase_steps', () => b.weight('rope_phase_steps', ropePhaseSteps(headSize(c), c.ropeTheta)));
    const K = attn.convKernel;
    // K = 1 has no history; one float keeps the buffer bindable (WebGPU refuses empty bindings).
    const convHistory = (this.convHistory = K > 0 ? b.buffer('kv-cache', p + 'attn.conv_history', Math.max(3 * (K - 1) * d, 1) * 4) : null);
    const allocate = b.allocator('kv-cache');
    this.allocateCache = (slots) => allocate(p + 'attn.kv', slots * this.slotBytes);
    this.slots = kind === 'swa' ? c.window : initialSlots;
    this.cache = this.allocateCache(this.slots);
    const constants = { D: d, H, WINDOW: kind === 'swa' ? c.window : 0 };
    // The sub-norm, with the gate when there is one: o = RMSNorm(concat o_h) [⊙ gelu(g)], quantised for wo.
    const subnormInput = (src: GPUBuffer, gate: GPUBuffer, gateStride: number): NormInput =>
      attn.gate ? { kind: NORM_RMS_GATE, src, params: subnorm, gate, constants: { NORM_GATE_OFF: 3 * d, NORM_GATE_STRIDE: gateStride } } : { kind: NORM_RMS, src, params: subnorm };
    const subnormLabel = p + (attn.gate ? 'attn.subnorm_gate' : 'attn.subnorm');

    // The conv's kernels [3, d, K] and histories [3, K−1, d] of q, k, v: the decode step's attend_step_conv and the
    // chunk's ttt_conv_rows (the TTT layers' conv with its third stream, v) share them.
    let convParams: GPUBuffer | null = null;
    if (convHistory) {
      const kernelsQkv = new Float32Array(3 * d * K);
      ['conv_q', 'conv_k', 'conv_v'].forEach((name, s) => kernelsQkv.set(b.floats(p + 'attn.' + name), s * d * K));
      convParams = b.weight(p + 'attn.conv', kernelsQkv);
    }

    // Decode: one dispatch per layer (a workgroup per head, or one invocation per head on CPU adapters): [conv,]
    // RoPE, append k/v, attend.
    const serial = b.fewHeadThreads ? '_serial' : '';
    const attend = convHistory && convParams
      ? kernels.step(p + 'attn.attend', kernels.pipeline('attention', 'attend_step_conv' + serial, { ...constants, CONV_K: K }), H, () => [step.position, step.mixIn, this.cache, null, step.heads, ropeSteps, convParams, convHistory], { usesKvCache: true })
      : kernels.step(p + 'attn.attend', kernels.pipeline('attention', 'attend_step' + serial, constants), H, () => [step.position, step.mixIn, this.cache, null, step.heads, ropeSteps], { usesKvCache: true });
    this.stepDispatches.push(
      ...b.stepNormBitlinear(p + 'attn.in', wIn, step.mixIn, false, norm.step, p + 'mixer_norm'),
      attend,
      ...b.stepNormBitlinear(p + 'attn.wo', wo, step.x, true, subnormInput(step.heads, step.mixIn, 0), subnormLabel),
    );

    // Chunk.
    const add = (label: string, spec: PipelineSpec, grid: (n: number) => [number, number], buffers: Bindings, usesKvCache = false) =>
      this.chunkDispatches.push(kernels.chunk(label, spec, grid, buffers, { usesKvCache }));
    this.chunkDispatches.push(norm.chunk, b.chunkBitlinear(p + 'attn.in', wIn, chunk.mixIn, false));
    let qkvRows = chunk.mixIn;
    let qkvStride = wIn.rows;
    if (convHistory && convParams) {
      const hist = (K - 1) * d;
      const convConstants = {
        D: d, K, CONV_V: 1, OFF_UQ: 0, OFF_UK: d, OFF_UV: 2 * d,
        OFF_CONV_Q: 0, OFF_CONV_K: d * K, OFF_CONV_V: 2 * d * K, OFF_HIST_Q: 0, OFF_HIST_K: hist, OFF_HIST_V: 2 * hist,
        UVG_STRIDE: wIn.rows, QK_STRIDE: 3 * d,
      };
      add(p + 'attn.conv', { shader: 'ttt', entry: 'ttt_conv_rows', constants: convConstants }, () => [groups(d), 1], () => [chunk.mixIn, convParams, convHistory, chunk.qk, chunk.info]);
      qkvRows = chunk.qk;
      qkvStride = 3 * d;
    }
    const rowConstants = { ...constants, QKV_STRIDE: qkvStride };
    const kv = chunk.kv!;
    add(p + 'attn.rope', { shader: 'attention', entry: 'rope_rows', constants: rowConstants }, (n) => [groups(d / 2), n], () => [step.position, ropeSteps, qkvRows, kv]);
    const append = () => add(p + 'attn.append', { shader: 'attention', entry: 'append_rows', constants: rowConstants }, (n) => [groups(2 * d), n], () => [step.position, kv, this.cache, chunk.info], true);
    // keys(): read when the bind group is (re)built, after the cache has grown.
    const attendRows = (keys: () => GPUBuffer, gathered: boolean) =>
      add(p + 'attn.attend', { shader: 'attention', entry: 'attend_rows', constants: { ...rowConstants, GATHERED: gathered ? 1 : 0 } }, (n) => [H, groups(n)], () => [step.position, qkvRows, keys(), null, chunk.heads, chunk.info], true);
    if (kind === 'swa') {
      const window = chunk.swaWindow!;
      add(p + 'attn.window', { shader: 'attention', entry: 'window_rows', constants: rowConstants }, (n) => [groups(2 * d), c.window + n], () => [step.position, this.cache, kv, window, chunk.info], true);
      attendRows(() => window, true);
      append();
    } else {
      append();
      attendRows(() => this.cache, false);
    }
    this.chunkDispatches.push(
      b.chunkNormQuant(subnormLabel, d, subnormInput(chunk.heads, chunk.mixIn, wIn.rows), chunk.mixOut),
      b.chunkBitlinear(p + 'attn.wo', wo, chunk.x, true),
    );
  }

  override stateBuffers(): GPUBuffer[] {
    return this.convHistory ? [this.cache, this.convHistory] : [this.cache];
  }

  override reset(encoder: GPUCommandEncoder): void {
    // Not needed for correctness (attend reads only written slots) but keeps stale keys out of memory dumps.
    encoder.clearBuffer(this.cache, 0, this.slots * this.slotBytes);
    if (this.convHistory) encoder.clearBuffer(this.convHistory); // needed: the conv reads K−1 earlier inputs, zeros after a reset
  }

  /**
   * A cache of `slots` slots in place of the current one (its first slots copied by `encoder` when `keepContents`).
   * Returns the old buffer, for the caller to free once the copy is submitted and to rebind the KV dispatches.
   */
  resize(slots: number, keepContents: boolean, encoder: GPUCommandEncoder): GPUBuffer {
    const cache = this.allocateCache(slots);
    if (keepContents) encoder.copyBufferToBuffer(this.cache, 0, cache, 0, Math.min(this.slots, slots) * this.slotBytes);
    const old = this.cache;
    this.buffers.delete(old);
    this.cache = cache;
    this.slots = slots;
    return old;
  }

  /** Bytes of the KV cache (and conv histories) that hold what the first `position` tokens left. */
  override stateBytesInUse(position: number): number {
    return Math.min(position, this.slots) * this.slotBytes + (this.convHistory?.size ?? 0);
  }
}
