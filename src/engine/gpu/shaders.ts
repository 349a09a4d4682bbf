// WGSL sources of the engine, one file per op family under shaders/, each prefixed with shaders/common.wgsl
// (workgroup size, size-generic reductions, BitLinear's activation quantisation) since WGSL has no includes.
import common from '../../../shaders/common.wgsl?raw';
import embedding from '../../../shaders/embedding.wgsl?raw';
import norm from '../../../shaders/norm.wgsl?raw';
import bitlinear from '../../../shaders/bitlinear.wgsl?raw';
import attention from '../../../shaders/attention.wgsl?raw';
import ttt from '../../../shaders/ttt.wgsl?raw';
import head from '../../../shaders/head.wgsl?raw';
import sample from '../../../shaders/sample.wgsl?raw';
import loss from '../../../shaders/loss.wgsl?raw';
import { tttOffsetDeclarations } from './ttt-layout';

const withCommon = (src: string) => `${common}\n${src}`;

/**
 * Keeps the lines of `src` between `//#if NAME` and `//#else` / `//#endif` when NAME is in `enabled`, else those
 * between `//#else` and `//#endif` (blocks do not nest). WGSL has no preprocessor, and a module may not mention a
 * builtin of a feature the device lacks (subgroupAdd, dot4I8Packed) even in an entry point it never uses.
 */
export function selectVariant(src: string, enabled: ReadonlySet<string>): string {
  const out: string[] = [];
  let block: { keep: boolean; inElse: boolean } | null = null;
  src.split('\n').forEach((line, i) => {
    const directive = /^\s*\/\/#(if|else|endif)\b\s*(\w*)/.exec(line);
    if (directive) {
      const [, kind, name] = directive;
      if (kind === 'if') {
        if (block) throw new Error(`shader line ${i + 1}: //#if blocks do not nest`);
        if (!name) throw new Error(`shader line ${i + 1}: //#if needs a feature name`);
        block = { keep: enabled.has(name), inElse: false };
      } else if (!block || (kind === 'else' && block.inElse)) {
        throw new Error(`shader line ${i + 1}: //#${kind} without a matching //#if`);
      } else if (kind === 'else') {
        block = { keep: !block.keep, inElse: true };
      } else {
        block = null;
      }
      return;
    }
    if (!block || block.keep) out.push(line);
  });
  if (block) throw new Error('shader: //#if without //#endif');
  return out.join('\n');
}

/** Optional GPU capabilities a kernel variant may use (see GpuContext.kernelFeatures). */
export interface KernelFeatures {
  /** The `subgroups` device feature: subgroupAdd and friends. */
  subgroups: boolean;
  /** The `packed_4x8_integer_dot_product` WGSL language feature: dot4I8Packed. */
  dot4: boolean;
  /**
   * One invocation per output row (`bitlinear_row`) instead of the tiled matvec: set for CPU adapters (SwiftShader),
   * where barriers and workgroup memory cost more than they save. Not a capability: a choice per adapter kind.
   */
  rowPerThread?: boolean;
  /**
   * The decode step's norms computed in the prologue of the consuming matvec (one dispatch fewer per BitLinear
   * input). Default: on GPUs only. On CPU adapters (SwiftShader) a norm as its own one-invocation dispatch followed
   * by bitlinear_row measured ~10 % faster per decode step than bitlinear_row_norm, whose every invocation
   * recomputes the row's statistics. Not a capability: a choice per adapter kind.
   */
  fusedNorms?: boolean;
}

/**
 * shaders/bitlinear.wgsl compiled for `features`: directives first (WGSL wants them before any declaration). With
 * `norm`, its decode matvecs normalise and quantise their input in a prologue (the `//#if norm` blocks).
 */
export function bitlinearShader(features: KernelFeatures, norm = false): string {
  const enabled = new Set<string>();
  if (norm) enabled.add('norm');
  const directives: string[] = [];
  if (features.subgroups) {
    enabled.add('subgroups');
    // The subgroup kernel's row loop exits on a subgroup-uniform (not workgroup-uniform) value.
    directives.push('enable subgroups;', 'diagnostic(off, subgroup_uniformity);');
  }
  if (features.dot4) enabled.add('dot4');
  return [...directives, withCommon(selectVariant(bitlinear, enabled))].join('\n');
}

export const SHADERS = {
  embedding: withCommon(embedding),
  norm: withCommon(norm),
  // The portable variant (no subgroups, no dot4I8Packed); bitlinearShader() gives the others.
  bitlinear: bitlinearShader({ subgroups: false, dot4: false }),
  attention: withCommon(attention),
  ttt: withCommon(`${tttOffsetDeclarations()}\n${ttt}`),
  head: withCommon(head),
  sample: withCommon(sample),
  loss: withCommon(loss),
} as const;

export type ShaderName = keyof typeof SHADERS;

/** Workgroup size of every kernel (shaders/common.wgsl). */
export const WORKGROUP_SIZE = 64;
/** Largest head size the per-head kernels support (4 columns per thread × 64 threads). */
export const MAX_HEAD_SIZE = 256;
