// What GpuModel sees of a layer module (embedding, TTT or attention mixer, FFN, final norm + LM head): its two
// paths, its reading state, its reset and its memory. A layer's math, buffers and kernels live in its own module; they meet the
// other layers only through the shared activations (activations.ts) and the dispatch cache (dispatch.ts).
import type { MemoryTag } from '../../types';
import type { GpuContext } from '../context';
import type { LayerBuilder } from './builder';
import { recordChunk, recordStep, type ChunkDispatch, type PassRecorder, type StepDispatch } from './dispatch';

export interface GpuLayer {
  /** The decode step's dispatches, in order (bindingsPerToken and dispatchesPerToken count them). */
  readonly stepDispatches: readonly StepDispatch[];
  /** Records this layer's part of a decode step (x in, x out: the residual stream). */
  encodeStep(pass: PassRecorder, drift: boolean): void;
  /** Records this layer's part of a chunk of `count` tokens (the chunk's rows of x in and out). */
  encodeChunk(pass: PassRecorder, count: number, drift: boolean): void;
  /** Buffers of the reading state in saveState order (none for a layer without state). */
  stateBuffers(): GPUBuffer[];
  /** Records the return to the state after a reset. */
  reset(encoder: GPUCommandEncoder): void;
  /** Bytes per tag of the live buffers this layer allocated (its weights, its state). */
  ownBytes(): Record<MemoryTag, number>;
  /** Bytes of its reading state that hold something after `position` tokens. */
  stateBytesInUse(position: number): number;
}

/** A layer whose paths are fixed lists of dispatches: most of them. */
export abstract class DispatchLayer implements GpuLayer {
  readonly stepDispatches: StepDispatch[] = [];
  protected readonly chunkDispatches: ChunkDispatch[] = [];
  /** Every buffer the layer's constructor (and later its KV cache growth) allocated through the builder. */
  protected readonly buffers: Set<GPUBuffer>;
  private readonly ctx: GpuContext;

  /** Call first in a layer's constructor: from here the builder's buffers are this layer's. */
  constructor(b: LayerBuilder) {
    this.ctx = b.ctx;
    this.buffers = b.startLayer();
  }

  encodeStep(pass: PassRecorder, drift: boolean): void {
    recordStep(pass, this.stepDispatches, drift);
  }

  encodeChunk(pass: PassRecorder, count: number, drift: boolean): void {
    recordChunk(pass, this.chunkDispatches, count, drift);
  }

  stateBuffers(): GPUBuffer[] {
    return [];
  }

  reset(_encoder: GPUCommandEncoder): void {}

  ownBytes(): Record<MemoryTag, number> {
    return this.ctx.bytesOf(this.buffers);
  }

  /** A fixed state (a TTT layer's) is in use from the first token on; a KV cache overrides this. */
  stateBytesInUse(_position: number): number {
    return this.stateBuffers().reduce((sum, b) => sum + b.size, 0);
  }
}
