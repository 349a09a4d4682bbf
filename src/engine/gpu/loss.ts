// The model's loss on the tokens it reads, computed on the GPU from logits that never leave it (shaders/loss.wgsl):
// −ln p(token | prefix) = logsumexp(logits) − logits[token]. One dispatch scores a whole chunk read by
// GpuModel.encodeChunk with logits 'all'; only the losses (one f32 per token) are copied out.
import type { GpuContext } from './context';
import type { GpuModel } from './model';
import { SHADERS } from './shaders';

export class GpuChunkLoss {
  /** f32[maxChunkTokens]: the losses of the last chunk encoded (row r: token r of the chunk). */
  readonly losses: GPUBuffer;
  private readonly ctx: GpuContext;
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroup: GPUBindGroup;

  /** `label` names the losses buffer in the memory report (its owner's prefix, e.g. 'feed.loss'). */
  constructor(ctx: GpuContext, model: GpuModel, label: string) {
    this.ctx = ctx;
    this.losses = ctx.createBuffer('scratch', label, model.maxChunkTokens * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    this.pipeline = ctx.pipeline(SHADERS.loss, 'token_loss_rows', { V: model.config.vocabSize });
    this.bindGroup = ctx.device.createBindGroup({
      label: 'token_loss_rows',
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [model.previousLogits, model.chunkIds, this.losses, model.chunkLogits].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /**
   * Records the losses of the `count` tokens of the chunk just encoded (with logits 'all') into `losses`: token 0
   * against the logits of the token before the chunk (meaningless at position 0, which has no prefix).
   */
  encode(encoder: GPUCommandEncoder, count: number): void {
    const pass = encoder.beginComputePass({ label: 'token_loss_rows' });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(count);
    pass.end();
  }

  destroy(): void {
    this.ctx.destroyBuffer(this.losses);
  }
}
