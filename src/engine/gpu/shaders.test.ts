import { describe, expect, it } from 'vitest';
import { KERNEL_CONSTANTS, SHADERS, WORKGROUP_SIZE, bitlinearShader } from './shaders';
import { MAX_CONV_KERNEL } from '../model/spec';
import { MATVEC_CHUNK_COLS } from './pack';

const variants = (): [string, string][] => [
  ...Object.entries(SHADERS),
  ['bitlinear (subgroups, dot4)', bitlinearShader({ subgroups: true, dot4: true })],
  ['bitlinear (norm)', bitlinearShader({ subgroups: false, dot4: false }, true)],
];

describe('KERNEL_CONSTANTS', () => {
  it('are declared once in every shader, from the host-side values', () => {
    for (const [shader, src] of variants()) {
      for (const [name, value] of Object.entries(KERNEL_CONSTANTS)) {
        const declarations = src.match(new RegExp(`(const|override)\\s+${name}\\b[^;]*;`, 'g')) ?? [];
        expect(declarations, `${shader}: ${name}`).toEqual([`const ${name}: u32 = ${value}u;`]);
      }
    }
    expect(KERNEL_CONSTANTS.MAX_CONV_KERNEL).toBe(MAX_CONV_KERNEL);
    expect(KERNEL_CONSTANTS.MATVEC_CHUNK_COLS).toBe(MATVEC_CHUNK_COLS);
    expect(WORKGROUP_SIZE).toBe(KERNEL_CONSTANTS.WORKGROUP_SIZE);
  });

  it('give every workgroup size its value: no kernel writes a number the host would have to mirror', () => {
    for (const [shader, src] of variants()) {
      for (const [, size] of src.matchAll(/@workgroup_size\(([^)]*)\)/g)) {
        // 1: a kernel of one invocation, dispatched once per row or once per step (nothing to mirror).
        if (size.trim() === '1') continue;
        expect(Object.hasOwn(KERNEL_CONSTANTS, size) || size === 'WG', `${shader}: @workgroup_size(${size})`).toBe(true);
      }
      // The reductions' size (an override, so that the sampler can pick its own) defaults to the model's.
      expect(src.match(/override\s+WG\b[^;]*;/g), shader).toEqual(['override WG: u32 = WORKGROUP_SIZE;']);
    }
  });
});
