// The choices a GpuModel is loaded with and that its encodeStep / encodeChunk take.
import type { DispatchTimer } from './layers/dispatch';

export interface GpuModelOptions {
  /** Token slots of an "attn" KV cache after a reset (default 8); it doubles when full (model/kv-cache.ts). */
  kvInitialTokens?: number;
  /** Most tokens one encodeChunk call reads (default DEFAULT_MAX_CHUNK_TOKENS); its buffers are sized at load. */
  maxChunkTokens?: number;
}

/** Tokens per prefill chunk unless GpuModelOptions.maxChunkTokens says otherwise. */
export const DEFAULT_MAX_CHUNK_TOKENS = 64;

/** Which logits encodeChunk computes (see ChunkOptions). */
export type ChunkLogits = 'last' | 'all' | 'none';

export interface ChunkOptions {
  /**
   * 'last' (default): the last token's logits into `logits`, as encodeStep leaves them (the sampler reads them).
   * 'all': every token's into `chunkLogits` ([count, V]), the last one also into `logits`, and the logits of the
   * token before the chunk into `previousLogits` (what the chunk's first token is scored against).
   * 'none': no LM head at all; `logits` then still holds the logits of the token before the chunk.
   */
  logits?: ChunkLogits;
  /** Compute each token's drift statistics into `chunkDriftStats` (the last token's into `driftStats` too). */
  drift?: boolean;
  /** Profiling only: every dispatch in its own compute pass, timed as `timer` says (see DispatchTimer). */
  timer?: DispatchTimer;
}

/** Per-step choices of encodeStep / step. */
export interface StepOptions {
  /**
   * Compute the drift stats (driftStats) in this step. They read all of w_init, so a step leaves them alone
   * unless asked (logits and state are the same either way); readDrift() refuses stats older than the last step.
   */
  drift?: boolean;
  /** Profiling only (see DispatchTimer). */
  timer?: DispatchTimer;
}
