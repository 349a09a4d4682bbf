// The FFN of a layer (MATH.md): x += w2 · quantise(RMSNorm_sub(silu(a) ⊙ c)), [a | c] = w13 · quantise(RMSNorm(x)),
// w1 and w3 concatenated into one matrix (one dispatch). Decode: two BitLinears, each with its input norm in the
// matvec's prologue (norm kinds RMS and SwiGLU + RMS). Chunk: the same norms as kernels over the rows, then the
// matrix products (bitlinear_rows).
import { NORM_RMS, NORM_SWIGLU, type LayerBuilder, type NormInput } from './builder';
import { DispatchLayer } from './layer';

export class Ffn extends DispatchLayer {
  constructor(b: LayerBuilder, layer: number) {
    super(b);
    const p = `l${layer}.`;
    const F = b.config.ffnHidden;
    const d = b.config.dModel;
    const { step, chunk } = b;
    const norm = b.floatWeight(p + 'ffn_norm');
    const w13 = b.packed(p + 'ffn.w13', [p + 'ffn.w1', p + 'ffn.w3']);
    const w2 = b.packed(p + 'ffn.w2', [p + 'ffn.w2']);
    const subnorm = b.floatWeight(p + 'ffn.subnorm');
    // SwiGLU h = silu(a) ⊙ c over the rows [a | c] of w13's output, then the FFN sub-norm.
    const swiglu = (src: GPUBuffer): NormInput => ({ kind: NORM_SWIGLU, src, params: subnorm, constants: { NORM_SRC_STRIDE: 2 * F } });

    this.stepDispatches.push(
      ...b.stepNormBitlinear(p + 'ffn.w13', w13, step.ac, false, { kind: NORM_RMS, src: step.x, params: norm }, p + 'ffn_norm'),
      ...b.stepNormBitlinear(p + 'ffn.w2', w2, step.x, true, swiglu(step.ac), p + 'ffn.swiglu'),
    );
    this.chunkDispatches.push(
      b.chunkNormQuant(p + 'ffn_norm', d, { kind: NORM_RMS, src: chunk.x, params: norm }, chunk.xn),
      b.chunkBitlinear(p + 'ffn.w13', w13, chunk.ac, false),
      b.chunkNormQuant(p + 'ffn.swiglu', F, swiglu(chunk.ac), chunk.hidden),
      b.chunkBitlinear(p + 'ffn.w2', w2, chunk.x, true),
    );
  }
}
