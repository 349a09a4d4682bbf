// The TTT mixer (MATH.md, "TTT layer"; shaders/ttt.wgsl): [uq|uk|v|g] = W_in · quantise(RMSNorm(x)); per head a
// causal conv of q and k, then the inner learner — a linear model W (f×f) and bias b trained on the fly by one
// gradient step per mini-batch of B tokens, read out in between as W̄ = W0 − tok_i·GW; z = W̄·q + b̄; then
// x += W_o · quantise(LayerNorm(z) [⊙ gelu(g)]). Its reading state is one buffer (W0, b0, GW, Gb, Z, the conv
// histories: ttt-layout.ts gives the offsets to both host and kernels).
// Decode: the fused input matvec (storing the normalised row: the learning-rate gate reads it), ttt_step (H
// workgroups: conv, then the step), the fused output matvec. Chunk: the norm and input product over the rows, the
// conv over the chunk (ttt_conv_rows), then per head the mini-batch dual form, with drift statistics
// (ttt_batch_rows_drift: every token's stats from the segment's Gram products) or without (ttt_batch_rows); both
// compute the same outputs and leave the same state, so drift may switch per chunk.
import { headSize } from '../../model/spec';
import type { StagingReader } from '../context';
import { GpuModelError } from '../model-check';
import { WORKGROUP_SIZE } from '../shaders';
import { packTttParams, tttInputLayout, tttOffsetConstants, tttSegmentTokens, tttStateLayout, type TttParamLayout, type TttStateLayout } from '../ttt-layout';
import { groups, NORM_LAYER, type LayerBuilder, type NormInput } from './builder';
import { DRIFT_STATS_PER_HEAD } from './drift';
import { DispatchLayer } from './layer';

export class TttMixer extends DispatchLayer {
  readonly kind = 'ttt';
  private readonly params: GPUBuffer;
  private readonly paramLayout: TttParamLayout;
  private readonly state: GPUBuffer;
  private readonly stateLayout: TttStateLayout;
  /** Host copies of the constant w_init [H, f, f] and tok_offset [B], for matrixDelta (no GPU reads). */
  private readonly hostWInit: Float32Array;
  private readonly hostTokOffset: Float32Array;
  private readonly f: number;
  private readonly miniBatch: number;

  /** `tttSlot`: index among the TTT layers (its rows of the drift stats). */
  constructor(b: LayerBuilder, readonly index: number, tttSlot: number) {
    super(b);
    const c = b.config;
    const t = c.ttt;
    const { dModel: d, nHeads: H } = c;
    const f = headSize(c);
    const K = t.convKernel;
    const p = `l${index}.`;
    const { kernels, step, chunk } = b;
    this.f = f;
    this.miniBatch = t.miniBatch;

    const norm = b.mixerNorm(p);
    const inNames = t.shareQK ? [p + 'ttt.wqk'] : [p + 'ttt.wq', p + 'ttt.wk'];
    inNames.push(p + 'ttt.wv');
    if (t.gate) inNames.push(p + 'ttt.wg');
    const wIn = b.packed(p + 'ttt.in', inNames);
    const wo = b.packed(p + 'ttt.wo', [p + 'ttt.wo']);
    const input = tttInputLayout(d, t.shareQK, t.gate);
    if (input.rows !== wIn.rows) throw new GpuModelError(`ttt.in packs ${wIn.rows} rows, its layout says ${input.rows}`);
    // The layer's float tensors packed into one buffer: fewer bindings per kernel.
    const packedParams = packTttParams((name) => (name.startsWith('ttt.conv_') && K === 0 ? new Float32Array(0) : b.floats(p + name)), tttSlot * H * DRIFT_STATS_PER_HEAD);
    const layout = (this.paramLayout = packedParams.layout);
    const params = (this.params = b.weight(p + 'ttt.params', packedParams.data));
    const stateLayout = (this.stateLayout = tttStateLayout(H, f, K, d));
    const state = (this.state = b.buffer('ttt-state', p + 'ttt.state', stateLayout.total * 4));
    this.hostWInit = b.floats(p + 'ttt.w_init').slice();
    this.hostTokOffset = b.floats(p + 'ttt.tok_offset').slice();

    const constants: Record<string, number> = {
      D: d, H, B: t.miniBatch, K, EPS: c.normEps, BASE_LR: t.baseLr, GATE: t.gate ? 1 : 0,
      ...tttOffsetConstants(input, layout, stateLayout),
    };
    // ttt_post: LayerNorm over the concatenated heads, the optional gelu gate, quantisation for wo.
    const post = (src: GPUBuffer, gate: GPUBuffer, gateStride: number): NormInput => ({
      kind: NORM_LAYER, src, params, gate,
      constants: { NORM_GAIN_OFF: layout.postW, NORM_BIAS_OFF: layout.postB, NORM_GATED: t.gate ? 1 : 0, NORM_GATE_OFF: input.g, NORM_GATE_STRIDE: gateStride },
    });

    // Decode. The TTT step reads the normalised input (its learning-rate gate): the fused matvec stores it in xn.
    const driftStats = step.driftStats!;
    const stepBuffers = (drift: 0 | 1) => () => [step.position, step.xn, step.mixIn, step.qk, params, state, step.heads, driftStats, step.memoryScale, step.driftFlags[drift]];
    const stepEntry = b.fewHeadThreads ? 'ttt_step_few' : 'ttt_step';
    this.stepDispatches.push(
      ...b.stepNormBitlinear(p + 'ttt.in', wIn, step.mixIn, false, norm.step, p + 'mixer_norm', step.xn),
      kernels.step(p + 'ttt.step', kernels.pipeline('ttt', stepEntry, constants), H, stepBuffers(0), { driftBuffers: stepBuffers(1) }),
      ...b.stepNormBitlinear(p + 'ttt.wo', wo, step.x, true, post(step.heads, step.mixIn, 0), p + 'ttt.post'),
    );

    // Chunk: the mini-batch dual form; with drift its variant that also derives each token's stats (same outputs).
    const rowConstants = { ...constants, UVG_STRIDE: wIn.rows, QK_STRIDE: 2 * d, STATS_STRIDE: chunk.statsStride };
    const chunkDrift = chunk.driftStats!;
    const segment = tttSegmentTokens(f, WORKGROUP_SIZE);
    const batchDrift = { shader: 'ttt', entry: 'ttt_batch_rows_drift', constants: { ...rowConstants, SEG: segment } } as const;
    const batchRows = { shader: 'ttt', entry: 'ttt_batch_rows', constants: { ...rowConstants, SEG: segment } } as const;
    const batchBuffers = () => [step.position, chunk.xn, chunk.mixIn, chunk.qk, params, state, chunk.heads, step.memoryScale, chunk.info];
    this.chunkDispatches.push(
      norm.chunk,
      b.chunkBitlinear(p + 'ttt.in', wIn, chunk.mixIn, false),
      kernels.chunk(p + 'ttt.conv', { shader: 'ttt', entry: 'ttt_conv_rows', constants: rowConstants }, () => [groups(d), 1], () => [chunk.mixIn, params, state, chunk.qk, chunk.info]),
      kernels.chunk(p + 'ttt.step', batchDrift, () => [H, 1], () => [...batchBuffers(), chunkDrift], { drift: true }),
      kernels.chunk(p + 'ttt.step.no_drift', batchRows, () => [H, 1], batchBuffers, { drift: false }),
      b.chunkNormQuant(p + 'ttt.post', d, post(chunk.heads, chunk.mixIn, wIn.rows), chunk.mixOut),
      b.chunkBitlinear(p + 'ttt.wo', wo, chunk.x, true),
    );
  }

  override stateBuffers(): GPUBuffer[] {
    return [this.state];
  }

  /** W0 ← w_init, b0 ← b_init, accumulators and conv histories zero. */
  override reset(encoder: GPUCommandEncoder): void {
    const s = this.stateLayout;
    const pl = this.paramLayout;
    encoder.clearBuffer(this.state);
    encoder.copyBufferToBuffer(this.params, pl.wInit * 4, this.state, s.W0 * 4, (s.GW - s.W0) * 4);
    encoder.copyBufferToBuffer(this.params, pl.bInit * 4, this.state, s.b0 * 4, (s.Gb - s.b0) * 4);
  }

  /**
   * W̄ − w_init of one head after the token at `position − 1`: f×f, row-major. W̄ is rebuilt as W0 − tok_i·GW (i: the
   * token's index in its mini-batch), ttt_step's expression; reads one head's W0 and GW, not the whole state.
   */
  async matrixDelta(head: number, position: number, staging: StagingReader): Promise<Float32Array> {
    const f = this.f;
    const bytes = f * f * 4;
    const mat = head * f * f;
    const [w0, gw] = await staging.read([
      { buffer: this.state, offset: (this.stateLayout.W0 + mat) * 4, size: bytes },
      { buffer: this.state, offset: (this.stateLayout.GW + mat) * 4, size: bytes },
    ]);
    const W0 = new Float32Array(w0);
    const GW = new Float32Array(gw);
    const init = this.hostWInit.subarray(mat, mat + f * f);
    // After the last token of a mini-batch GW is zero and W0 already holds W̄; at position 0 W0 = w_init.
    const i = position === 0 ? 0 : (position - 1) % this.miniBatch;
    const tok = Math.max(1 / (i + 1) + this.hostTokOffset[i], 0);
    const out = new Float32Array(f * f);
    for (let e = 0; e < out.length; e++) out[e] = Math.fround(W0[e] - Math.fround(tok * GW[e])) - init[e];
    return out;
  }
}
