import { describe, expect, it } from 'vitest';
import { nextCursor } from './cursor-keys';

describe('nextCursor', () => {
  const c = { min: 10, max: 50, step: 1, start: 50 };
  it('steps, jumps to the ends, hides, and clamps', () => {
    expect(nextCursor('ArrowRight', false, { ...c, at: null })).toBe(50); // a hidden cursor appears at start
    expect(nextCursor('ArrowLeft', false, { ...c, at: 20 })).toBe(19);
    expect(nextCursor('ArrowUp', true, { ...c, at: 20 })).toBe(30); // Shift: ten steps by default
    expect(nextCursor('ArrowDown', true, { ...c, at: 20, shiftStep: 16 })).toBe(10); // clamped at min (20 − 16 = 4)
    expect(nextCursor('ArrowRight', false, { ...c, at: 50 })).toBe(50);
    expect(nextCursor('Home', false, { ...c, at: 30 })).toBe(10);
    expect(nextCursor('End', false, { ...c, at: null })).toBe(50);
    expect(nextCursor('Escape', false, { ...c, at: 30 })).toBeNull();
    expect(nextCursor('a', false, { ...c, at: 30 })).toBeUndefined();
  });
});
