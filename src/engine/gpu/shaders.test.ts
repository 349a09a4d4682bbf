import { describe, expect, it } from 'vitest';
import { KERNEL_CONSTANTS, SHADERS } from './shaders';
import { MAX_CONV_KERNEL } from '../model/spec';

describe('KERNEL_CONSTANTS', () => {
  it('are declared once in every shader, from the host-side values', () => {
    for (const [shader, src] of Object.entries(SHADERS)) {
      for (const [name, value] of Object.entries(KERNEL_CONSTANTS)) {
        const declarations = src.match(new RegExp(`(const|override)\\s+${name}\\b[^;]*;`, 'g')) ?? [];
        expect(declarations, `${shader}: ${name}`).toEqual([`const ${name}: u32 = ${value}u;`]);
      }
    }
    expect(KERNEL_CONSTANTS.MAX_CONV_KERNEL).toBe(MAX_CONV_KERNEL);
  });
});
