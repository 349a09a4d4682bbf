// How a ternary matvec (shaders/bitlinear.wgsl) is compiled and dispatched for one weight shape on one device:
// which variant (subgroups, dot4I8Packed), its override constants and its workgroup count. GpuModel, the kernel
// tests and the bench all take their pipelines from here, so that they run the same thing.
import { MATVEC_CHUNK_COLS } from './pack';
import { bitlinearShader, KERNEL_CONSTANTS, type KernelFeatures } from './shaders';

const { WORKGROUP_SIZE, ROW_ROWS_PER_THREAD, ROW_WORKGROUP_SIZE, ROW_NORM_ROWS, ROW_NORM_WORKGROUP_SIZE, ROW_NORM_MAX_IN } = KERNEL_CONSTANTS;

/**
 * Rows per workgroup of the matvec (a multiple of 4: rows go in blocks of 4). x is staged once per workgroup, so
 * more rows amortise the staging and the barrier; 64 measured faster than 16 on SwiftShader. A GPU with many
 * compute units may prefer fewer at small OUT (2560 rows → 40 workgroups): not measured yet.
 */
export const MATVEC_ROWS_PER_WORKGROUP = 64;

export interface MatvecPlan {
  shader: string;
  entryPoint: 'bitlinear_matvec' | 'bitlinear_row' | 'bitlinear_row_norm';
  constants: Record<string, number>;
  workgroups: number;
  /** Bytes of workgroup memory the variant uses (checked against the device's limit). */
  workgroupBytes: number;
  features: KernelFeatures;
}

/** Smallest power of two ≥ n, capped at the workgroup size (invocations per row of the portable variant). */
function threadsPerRow(chunks: number): number {
  let t = 1;
  while (t < chunks && t < WORKGROUP_SIZE) t *= 2;
  return t;
}

/** Rows of one bitlinear_row_norm workgroup (shaders/bitlinear.wgsl). */
const ROW_NORM_ROWS_PER_WORKGROUP = ROW_NORM_ROWS * ROW_NORM_WORKGROUP_SIZE;
/** Bytes of common.wgsl's reduce_f32 (a vec4<f32> per invocation), which the fused prologue's reductions use. */
const REDUCE_BYTES = WORKGROUP_SIZE * 16;

/**
 * The matvec for an [rows, cols] ternary matrix (packTernaryMatvec layout) on a device with `features`. With
 * `norm`, the decode step's fused form: the input row is normalised and quantised in the kernel's prologue (the
 * caller adds the NORM_* constants of its kind and binds the norm input at 6..8 and the f32 output at 9).
 * Throws a RangeError when x does not fit in `maxWorkgroupBytes` of workgroup memory (cols beyond ~16,000 at the
 * default limit of 16 KiB).
 */
/**
 * i32 words an int8 input buffer of the decode matvecs must hold for `cols` columns: whole chunks of 64 columns, as
 * bitlinear_row reads them (the padding columns have weight 0, so which values they hold does not matter, but they
 * must be there and be int8, −128..127, as every column: zeros or another row's quantised values).
 */
export function matvecInputWords(cols: number): number {
  return Math.ceil(cols / MATVEC_CHUNK_COLS) * MATVEC_CHUNK_COLS;
}

export function matvecPlan(
  rows: number, cols: number, accumulate: boolean, features: KernelFeatures, maxWorkgroupBytes = 16384, rowsPerWorkgroupAtLeast = MATVEC_ROWS_PER_WORKGROUP, norm = false,
): MatvecPlan {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0) throw new RangeError(`matvecPlan: bad shape ${rows}×${cols}`);
  if (rowsPerWorkgroupAtLeast % 4 !== 0 || rowsPerWorkgroupAtLeast <= 0) throw new RangeError(`matvecPlan: rows per workgroup must be a positive multiple of 4, got ${rowsPerWorkgroupAtLeast}`);
  const chunks = Math.ceil(cols / MATVEC_CHUNK_COLS);
  const constants: Record<string, number> = { IN: cols, OUT: rows, ACCUMULATE: accumulate ? 1 : 0 };
  if (norm) constants.NORM_N = cols;
  if (features.rowPerThread && norm && chunks * MATVEC_CHUNK_COLS <= ROW_NORM_MAX_IN) {
    // ROW_NORM_ROWS per invocation (each computes the row's norm alone, no barrier), small workgroups. Wider inputs take
    // the tiled kernel below (same bits).
    return { shader: bitlinearShader(features, true), entryPoint: 'bitlinear_row_norm', constants, workgroups: Math.ceil(rows / ROW_NORM_ROWS_PER_WORKGROUP), workgroupBytes: 0, features };
  }
  if (features.rowPerThread && !norm) {
    // ROW_ROWS_PER_THREAD rows per invocation, nothing in workgroup memory (the shader's x_packed is not used by this
    // entry point). It reads xq in whole chunks of 64 columns, int8 values in all of them: see matvecInputWords.
    return { shader: bitlinearShader(features), entryPoint: 'bitlinear_row', constants, workgroups: Math.ceil(rows / (ROW_ROWS_PER_THREAD * ROW_WORKGROUP_SIZE)), workgroupBytes: 0, features };
  }
  let rowsPerWorkgroup = rowsPerWorkgroupAtLeast;
  const xBytes = chunks * 16 * 4; // x_packed
  let workgroupBytes = xBytes + (norm ? REDUCE_BYTES : 0);
  if (features.subgroups) {
    workgroupBytes += 4; // the block counter
  } else {
    const threads = threadsPerRow(chunks);
    // Every invocation has a slot: at least WORKGROUP_SIZE / threads blocks of 4 rows per workgroup.
    const fewestRows = (4 * WORKGROUP_SIZE) / threads;
    rowsPerWorkgroup = Math.max(rowsPerWorkgroup, fewestRows);
    const partialBytes = (rows: number) => (rows / 4) * threads * 16; // vec4<i32> per block and invocation
    // Where workgroup memory is short (16 KiB, the default), fewer rows per workgroup leave room for x.
    while (workgroupBytes + partialBytes(rowsPerWorkgroup) > maxWorkgroupBytes && rowsPerWorkgroup / 2 >= fewestRows && (rowsPerWorkgroup / 2) % 4 === 0) rowsPerWorkgroup /= 2;
    constants.THREADS_PER_ROW = threads;
    workgroupBytes += partialBytes(rowsPerWorkgroup);
  }
  constants.ROWS_PER_WG = rowsPerWorkgroup;
  if (workgroupBytes > maxWorkgroupBytes) {
    throw new RangeError(`matvecPlan: an input of ${cols} needs ${workgroupBytes} bytes of workgroup memory, the device allows ${maxWorkgroupBytes}`);
  }
  return {
    shader: bitlinearShader(features, norm),
    entryPoint: 'bitlinear_matvec',
    constants,
    workgroups: Math.ceil(rows / rowsPerWorkgroup),
    workgroupBytes,
    features,
  };
}
