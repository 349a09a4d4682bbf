// What GpuModel sees of a layer module (embedding, TTT or attention mixer, FFN, final norm + LM head): its two
// paths, its reading state and its reset. A layer's math, buffers and kernels live in its own module; they meet the
// other layers only through the shared activations (activations.ts) and the dispatch cache (dispatch.ts).
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
}

/** A layer whose paths are fixed lists of dispatches: most of them. */
export abstract class DispatchLayer implements GpuLayer {
  readonly stepDispatches: StepDispatch[] = [];
  protected readonly chunkDispatches: ChunkDispatch[] = [];

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
}
