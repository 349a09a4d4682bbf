// Typed access to a ModelFile's tensors, with errors that name the tensor and what was expected.
import type { ModelFile, TernaryTensor } from '../types';

export class ReferenceModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceModelError';
  }
}

function shapeText(shape: number[]): string {
  return `[${shape.join(', ')}]`;
}

function checkShape(name: string, actual: number[], expected: number[]): void {
  if (actual.length !== expected.length || actual.some((v, i) => v !== expected[i])) {
    throw new ReferenceModelError(`tensor ${name} has shape ${shapeText(actual)}, expected ${shapeText(expected)}`);
  }
}

export function floatTensor(model: ModelFile, name: string, ...shape: number[]): Float32Array {
  const t = model.tensors.get(name);
  if (!t) throw new ReferenceModelError(`missing tensor ${name}`);
  if (t.kind !== 'float') throw new ReferenceModelError(`tensor ${name} must be a float tensor, got ${t.kind}`);
  checkShape(name, t.shape, shape);
  return t.data;
}

export function ternaryTensor(model: ModelFile, name: string, ...shape: number[]): TernaryTensor {
  const t = model.tensors.get(name);
  if (!t) throw new ReferenceModelError(`missing tensor ${name}`);
  if (t.kind !== 'ternary') throw new ReferenceModelError(`tensor ${name} must be a ternary (t158) tensor, got ${t.kind}`);
  checkShape(name, t.shape, shape);
  return t;
}
