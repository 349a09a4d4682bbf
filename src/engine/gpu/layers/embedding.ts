// Embedding (shaders/embedding.wgsl): x = E[token]. The decode step reads the token id on the GPU (written by the
// caller or by the GPU sampler), the chunk path one id per row from chunk.ids. The table is f16 pairs when every
// value is exactly an f16 (float-table.ts), and a tied model's LM head reads the same buffer.
import { packFloatTable } from '../float-table';
import { groups, type LayerBuilder } from './builder';
import { recordChunk, type ChunkDispatch, type DispatchCache, type PassRecorder } from './dispatch';

/** A [V, d] float table on the GPU as u32 words (float-table.ts): f16 pairs or f32. */
export interface FloatTableGpu {
  buffer: GPUBuffer;
  f16: boolean;
  rowWords: number;
}

/** The tensor `name` ([V, d]) as a float table on the GPU. */
export function floatTable(b: LayerBuilder, name: string): FloatTableGpu {
  const t = packFloatTable(b.floats(name), b.config.vocabSize, b.config.dModel);
  return { buffer: b.weight(`${name}${t.f16 ? '.f16' : ''}`, t.words), f16: t.f16, rowWords: t.rowWords };
}

export class Embedding {
  readonly table: FloatTableGpu;
  private readonly pipeline: GPUComputePipeline;
  /** Bind groups per token buffer: the caller's, the sampler's, the model's own. */
  private readonly bindGroups = new WeakMap<GPUBuffer, GPUBindGroup>();
  private readonly x: GPUBuffer;
  private readonly d: number;
  private readonly chunkDispatch: ChunkDispatch;

  constructor(b: LayerBuilder, private readonly kernels: DispatchCache) {
    const { dModel: D, vocabSize: V } = b.config;
    this.table = floatTable(b, 'tok_embed');
    const constants = { D, V, F16: this.table.f16 ? 1 : 0, ROW_WORDS: this.table.rowWords };
    const { chunk } = b;
    this.chunkDispatch = kernels.chunk('embed', { shader: 'embedding', entry: 'embed_rows', constants }, (n) => [groups(D), n], () => [chunk.ids, this.table.buffer, chunk.x]);
    this.pipeline = kernels.pipeline('embedding', 'embed', constants);
    this.x = b.step.x;
    this.d = D;
  }

  /** x = E[token], the token id at offset 0 of `tokenBuffer`. */
  encodeStep(pass: PassRecorder, tokenBuffer: GPUBuffer): void {
    let bindGroup = this.bindGroups.get(tokenBuffer);
    if (!bindGroup) {
      bindGroup = this.kernels.bindGroup(this.pipeline, [tokenBuffer, this.table.buffer, this.x], 'embed');
      this.bindGroups.set(tokenBuffer, bindGroup);
    }
    pass.dispatch('embed', this.pipeline, bindGroup, groups(this.d));
  }

  /** chunk.x[r] = E[chunk.ids[r]] for the chunk's rows. */
  encodeChunk(pass: PassRecorder, count: number): void {
    recordChunk(pass, [this.chunkDispatch], count, false);
  }

  /** What the decode step's embedding reads: one row of the table and the token id. */
  bindings(): { label: string; buffers: { label: string; size: number }[] } {
    return { label: 'embed', buffers: [{ label: this.table.buffer.label, size: this.table.rowWords * 4 }, { label: 'token id', size: 4 }] };
  }
}
