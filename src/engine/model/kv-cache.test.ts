import { describe, expect, it } from 'vitest';
import { grownKvSlots, kvSlotsAfter } from './kv-cache';

describe('KV cache growth', () => {
  it('doubles when full, never past maxContext, and at least to what is needed', () => {
    expect(grownKvSlots(8, 8, 1024)).toBe(8);
    expect(grownKvSlots(8, 9, 1024)).toBe(16);
    expect(grownKvSlots(8, 40, 1024)).toBe(40); // a restored or odd-sized cache jumps straight to what it needs
    expect(grownKvSlots(768, 769, 1024)).toBe(1024);
    expect(grownKvSlots(8, 9, 12)).toBe(12);
  });

  it('from a reset: slots after T tokens, reallocations logarithmic in T', () => {
    expect([0, 1, 8, 9, 16, 17, 48, 512, 513, 1024].map((t) => kvSlotsAfter(t, 8, 1024))).toEqual([8, 8, 8, 16, 16, 32, 64, 512, 1024, 1024]);
    expect(kvSlotsAfter(5000, 8, 4096)).toBe(4096);
    expect(kvSlotsAfter(3, 8, 4)).toBe(4); // maxContext below the initial size
    let copies = 0;
    let slots = 8;
    for (let t = 1; t <= 4096; t++) {
      const next = grownKvSlots(slots, t, 4096);
      if (next !== slots) copies += slots; // slots copied by this reallocation
      slots = next;
    }
    expect(copies).toBeLessThan(4096); // O(T) copied in all (8 + 16 + … + 2048)
  });
});
