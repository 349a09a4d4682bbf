// What GpuModel refuses: its error type, and the load-time check of a model file against its config.
import type { ModelFile, Tensor } from '../types';
import { configProblem, expectedTensors, headSize } from '../model/spec';
import { MAX_HEAD_SIZE } from './shaders';

/** A model the GPU engine cannot load or a call it refuses (bad ids, wrong state, destroyed model). */
export class GpuModelError extends Error {
  override readonly name = 'GpuModelError';
}

/** Throws GpuModelError unless `model`'s config is valid, fits the kernels, and every tensor has its expected shape. */
export function checkModel(model: ModelFile): void {
  const c = model.config;
  const problem = configProblem(c);
  if (problem) throw new GpuModelError(`invalid model config: ${problem}`);
  if (headSize(c) > MAX_HEAD_SIZE) throw new GpuModelError(`head size ${headSize(c)} exceeds the GPU kernels' limit of ${MAX_HEAD_SIZE}`);
  for (const spec of expectedTensors(c)) {
    const t: Tensor | undefined = model.tensors.get(spec.name);
    if (!t) throw new GpuModelError(`missing tensor ${spec.name}`);
    if (t.kind !== spec.role) throw new GpuModelError(`tensor ${spec.name} must be ${spec.role}, got ${t.kind}`);
    if (t.shape.length !== spec.shape.length || t.shape.some((v, i) => v !== spec.shape[i])) {
      throw new GpuModelError(`tensor ${spec.name} has shape [${t.shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
    }
    const n = t.kind === 'float' ? t.data.length : t.values.length;
    const expected = spec.shape.reduce((a, b) => a * b, 1);
    if (n !== expected) throw new GpuModelError(`tensor ${spec.name} holds ${n} values, its shape needs ${expected}`);
  }
}
