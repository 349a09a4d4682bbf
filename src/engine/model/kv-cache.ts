// How the "attn" KV cache grows (gpu/model.ts prepare, gpu/layers/attention-mixer.ts resize): geometrically, doubling when full, capped at maxContext.
// Why doubling rather than fixed blocks or one maxContext buffer: growing by a fixed block copies the whole cache
// every block (O(T²) bytes over a context, and a pipeline stall per copy); doubling copies O(T) bytes in all and
// reallocates ⌈log₂(T/initial)⌉ times, at the price of up to 2× allocated vs in use. Preallocating maxContext would
// never copy, but would make the KV baseline hold its whole context (6 × 2 × 4096 × 256 × 4 = 48 MiB for kv-d256)
// from the first token and hide how the cache grows, which is what the memory view compares with the constant TTT
// state; the report gives both allocated and in-use bytes instead (MemoryReport.kvCache).

/** Slots after growing a cache of `slots` to hold `needed` tokens: double (at least `needed`), at most maxContext. */
export function grownKvSlots(slots: number, needed: number, maxContext: number): number {
  if (needed <= slots) return slots;
  return Math.min(Math.max(needed, 2 * slots), maxContext);
}

/** Slots an "attn" cache holds after reading `tokens` one by one from a reset (starting at `initial` slots). */
export function kvSlotsAfter(tokens: number, initial: number, maxContext: number): number {
  let slots = Math.min(initial, maxContext);
  while (slots < Math.min(tokens, maxContext)) slots = grownKvSlots(slots, slots + 1, maxContext);
  return slots;
}
