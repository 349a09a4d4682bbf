// Final norm + LM head (shaders/norm.wgsl, shaders/head.wgsl): logits = E_out · RMSNorm(x), on the float table (no
// quantisation; MATH.md). The decode step's lm_head, its last kernel, also advances the GPU position counter, so
// steps recorded back to back need no host write. The chunk path runs the head only where logits are wanted:
// 'all' over every row (lm_head_rows), 'last' as the decode step's own kernels on a copy of the last row (a variant
// that leaves the position alone), and advance_position_by once per chunk.
import { KERNEL_CONSTANTS } from '../shaders';
import { groups, NORM_RMS, type LayerBuilder } from './builder';
import { recordChunk, recordStep, type ChunkDispatch, type PassRecorder, type StepDispatch } from './dispatch';
import { floatTable, type FloatTableGpu } from './embedding';
import { DispatchLayer } from './layer';

const { HEAD_ROWS_PER_THREAD, HEAD_CHUNK_ROWS_PER_THREAD, HEAD_TOKENS_PER_THREAD } = KERNEL_CONSTANTS;

export class LmHead extends DispatchLayer {
  /** The decode step's final norm and a head that leaves the position alone: 'last' on a copy of the last row. */
  private readonly lastRow: StepDispatch[];
  private readonly advance: ChunkDispatch;

  /** `embedTable`: the head's table when the embeddings are tied. */
  constructor(b: LayerBuilder, embedTable: FloatTableGpu) {
    super(b);
    const { kernels, step, chunk } = b;
    const { dModel: D, vocabSize: V } = b.config;
    const table = b.config.tieEmbeddings ? embedTable : floatTable(b, 'lm_head');
    const finalNorm = b.floatWeight('final_norm');
    // The final norm's f32 output feeds the float head; its int8 output goes unused.
    const norm = { kind: NORM_RMS, src: step.x, params: finalNorm };
    const normDispatch = kernels.step('final_norm', kernels.pipeline('norm', b.normEntry, b.normConstants(D, norm)), 1, () => [null, null, step.xn, step.xq, step.xscale, null, ...b.normBuffers(norm)]);
    const constants = { D, V, F16: table.f16 ? 1 : 0, ROW_WORDS: table.rowWords };
    const headGroups = groups(Math.ceil(V / HEAD_ROWS_PER_THREAD));
    const headBuffers = () => [table.buffer, step.xn, step.logits, step.position];
    this.stepDispatches.push(normDispatch, kernels.step('lm_head', kernels.pipeline('head', 'lm_head', { ...constants, ADVANCE: 1 }), headGroups, headBuffers));
    this.lastRow = [normDispatch, kernels.step('lm_head', kernels.pipeline('head', 'lm_head', { ...constants, ADVANCE: 0 }), headGroups, headBuffers)];

    this.chunkDispatches.push(
      b.chunkNormQuant('final_norm', D, { ...norm, src: chunk.x }, chunk.finalXn, chunk.paddedRows),
      kernels.chunk('lm_head', { shader: 'head', entry: 'lm_head_rows', constants: { ...constants, XN_ROWS: chunk.paddedRows } }, (n) => [groups(Math.ceil(V / HEAD_CHUNK_ROWS_PER_THREAD)), Math.ceil(n / HEAD_TOKENS_PER_THREAD)], () => [table.buffer, chunk.finalXn, chunk.logits, chunk.info]),
    );
    this.advance = kernels.chunk('advance_position', { shader: 'head', entry: 'advance_position_by', constants: {} }, () => [1, 1], () => [step.position, chunk.info]);
  }

  /** chunk.logits of every row ('all'). */
  override encodeChunk(pass: PassRecorder, count: number): void {
    recordChunk(pass, this.chunkDispatches, count, false);
  }

  /** logits of step.x without advancing the position (the chunk's last row, copied there). */
  encodeLastRow(pass: PassRecorder): void {
    recordStep(pass, this.lastRow, false, 'chunk.last.');
  }

  /** The position counter += the chunk's token count. */
  encodeAdvance(pass: PassRecorder, count: number): void {
    recordChunk(pass, [this.advance], count, false);
  }
}
