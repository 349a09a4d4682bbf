// The counter-based uniform draw shared by the CPU sampler and the GPU sampler (docs/SAMPLING.md): a pure
// function of (seed, step), so that either side can produce the draw for any token without carrying state.

/** PCG-RXS-M-XS 32-bit hash (Jarzynski & Olano 2020, "Hash Functions for GPU Rendering"), on u32. */
export function pcgHash(input: number): number {
  const state = (Math.imul(input >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** `u32 = pcg(seed ^ pcg(step))`; the top 24 bits over 2²⁴: a uniform in [0, 1) that f32 represents exactly. */
export function uniform(seed: number, step: number): number {
  const bits = pcgHash((seed >>> 0) ^ pcgHash(step >>> 0));
  return (bits >>> 8) / 16777216;
}

/** The draws of one generation: `uniform(seed, 0)`, `uniform(seed, 1)`, … one per sampled token. */
export class CounterRng {
  constructor(
    readonly seed: number,
    public step = 0,
  ) {}

  next(): number {
    return uniform(this.seed, this.step++);
  }
}
