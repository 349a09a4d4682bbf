// WGSL sources of the engine, one file per op family under shaders/, each prefixed with shaders/common.wgsl
// (workgroup size, size-generic reductions, BitLinear's activation quantisation) since WGSL has no includes.
import common from '../../../shaders/common.wgsl?raw';
import embedding from '../../../shaders/embedding.wgsl?raw';
import norm from '../../../shaders/norm.wgsl?raw';
import bitlinear from '../../../shaders/bitlinear.wgsl?raw';
import ffn from '../../../shaders/ffn.wgsl?raw';
import attention from '../../../shaders/attention.wgsl?raw';
import ttt from '../../../shaders/ttt.wgsl?raw';
import head from '../../../shaders/head.wgsl?raw';
import sample from '../../../shaders/sample.wgsl?raw';
import loss from '../../../shaders/loss.wgsl?raw';

const withCommon = (src: string) => `${common}\n${src}`;

export const SHADERS = {
  embedding: withCommon(embedding),
  norm: withCommon(norm),
  bitlinear: withCommon(bitlinear),
  ffn: withCommon(ffn),
  attention: withCommon(attention),
  ttt: withCommon(ttt),
  head: withCommon(head),
  sample: withCommon(sample),
  loss: withCommon(loss),
} as const;

export type ShaderName = keyof typeof SHADERS;

/** Workgroup size of every kernel (shaders/common.wgsl). */
export const WORKGROUP_SIZE = 64;
/** Largest head size the per-head kernels support (4 columns per thread × 64 threads). */
export const MAX_HEAD_SIZE = 256;
