// The WebGPU device of the engine: adapter/device set-up, a tagged buffer allocator (so that the memory chart shows
// measured bytes, not estimates) and a pipeline cache. DOM-free: works in a worker, a page, or Node with the
// `webgpu` package (pass its `gpu` object in).
import type { MemoryTag } from '../types';
import type { KernelFeatures } from './shaders';

export const MEMORY_TAGS: readonly MemoryTag[] = ['weights', 'ttt-state', 'kv-cache', 'activations', 'scratch'];

export class GpuUnavailableError extends Error {
  override readonly name = 'GpuUnavailableError';
}

export interface GpuMemoryReport {
  /** Exact bytes of live buffers per tag. */
  bytes: Record<MemoryTag, number>;
  total: number;
  buffers: number;
}

interface LiveBuffer {
  tag: MemoryTag;
  size: number;
}

export interface GpuContextOptions {
  /** `navigator.gpu` by default; Node passes the `webgpu` package's `create([])` result. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * Optional capabilities the kernels may use where the adapter has them (default: all). `false` turns one off,
   * e.g. to run the portable kernels on a device that has subgroups (tests, comparisons).
   */
  kernelFeatures?: Partial<KernelFeatures>;
  /** Request 'timestamp-query' where the adapter has it (the bench's kernel timings). */
  timestamps?: boolean;
}

/** The WGSL language feature of dot4I8Packed (navigator.gpu.wgslLanguageFeatures). */
export const DOT4_LANGUAGE_FEATURE = 'packed_4x8_integer_dot_product';

/**
 * Whether the adapter runs on the CPU (SwiftShader, llvmpipe/lavapipe, WARP), from its vendor / architecture /
 * device / description line: there the matvec runs one invocation per row (bench: the tiled variants measured
 * 0.6–0.8× of it at the shipped shapes on SwiftShader).
 */
export function isCpuAdapter(adapterInfo: string): boolean {
  return /swiftshader|llvmpipe|lavapipe|\bwarp\b|software/i.test(adapterInfo);
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  /** Features of the device (those requested: 'subgroups', 'timestamp-query' where asked for, and core ones). */
  readonly features: ReadonlySet<string>;
  /** WGSL language features of this browser / Dawn (navigator.gpu.wgslLanguageFeatures); empty where unknown. */
  readonly wgslFeatures: ReadonlySet<string>;
  /** What the kernels use on this device (the variant of shaders/bitlinear.wgsl, src/engine/gpu/bitlinear.ts). */
  readonly kernelFeatures: Readonly<KernelFeatures>;
  /** Subgroup sizes the adapter reports (adapter.info), or null where it does not say. */
  readonly subgroupSizes: { min: number; max: number } | null;
  /** Bytes of workgroup memory a kernel may use (device limit). */
  readonly maxWorkgroupBytes: number;
  private readonly live = new Map<GPUBuffer, LiveBuffer>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pendingPipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly lostCallbacks: ((reason: string) => void)[] = [];
  private lostReason: string | null = null;

  private constructor(device: GPUDevice, adapterInfo: string, wgslFeatures: ReadonlySet<string>, subgroupSizes: { min: number; max: number } | null, wanted: Partial<KernelFeatures>) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.features = new Set([...device.features]);
    this.wgslFeatures = wgslFeatures;
    this.subgroupSizes = subgroupSizes;
    this.maxWorkgroupBytes = device.limits.maxComputeWorkgroupStorageSize;
    this.kernelFeatures = Object.freeze({
      subgroups: wanted.subgroups !== false && this.features.has('subgroups'),
      dot4: wanted.dot4 !== false && wgslFeatures.has(DOT4_LANGUAGE_FEATURE),
      rowPerThread: wanted.rowPerThread ?? isCpuAdapter(adapterInfo),
      fusedNorms: wanted.fusedNorms ?? !(wanted.rowPerThread ?? isCpuAdapter(adapterInfo)),
      fewHeadThreads: wanted.fewHeadThreads ?? isCpuAdapter(adapterInfo),
      fewSamplerThreads: wanted.fewSamplerThreads ?? isCpuAdapter(adapterInfo),
    });
    void device.lost.then((info) => {
      this.lostReason = `${info.reason}: ${info.message}`;
      for (const cb of this.lostCallbacks) cb(this.lostReason);
    });
  }

  static async create(opts: GpuContextOptions = {}): Promise<GpuContext> {
    const gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
    if (!gpu) throw new GpuUnavailableError('WebGPU is not available here (no navigator.gpu)');
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) throw new GpuUnavailableError('WebGPU found no adapter');
    // Ask for the adapter's storage limits: the embedding and LM head of larger models exceed the defaults.
    const wanted: Record<string, number> = {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(adapter.limits.maxStorageBuffersPerShaderStage, 10),
      // The matvec stages x in workgroup memory: wider inputs fit where the adapter allows more than 16 KiB.
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    };
    // Subgroups when present (the matvec's reductions; the portable kernels otherwise), timestamps when asked.
    const requiredFeatures: GPUFeatureName[] = [];
    if (opts.kernelFeatures?.subgroups !== false && adapter.features.has('subgroups')) requiredFeatures.push('subgroups' as GPUFeatureName);
    if (opts.timestamps && adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
    const device = await adapter.requestDevice({ requiredLimits: wanted, requiredFeatures });
    const info = adapter.info;
    const adapterInfo = info ? [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' / ') : 'unknown';
    const wgsl = (gpu as GPU & { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
    const sizes = info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
    const subgroupSizes = sizes?.subgroupMinSize && sizes.subgroupMaxSize ? { min: sizes.subgroupMinSize, max: sizes.subgroupMaxSize } : null;
    return new GpuContext(device, adapterInfo || 'unknown', new Set(wgsl ? [...wgsl] : []), subgroupSizes, opts.kernelFeatures ?? {});
  }

  /** Creates a buffer counted under `tag` until destroyBuffer() is called. */
  createBuffer(tag: MemoryTag, label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    if (!Number.isFinite(size) || size <= 0) throw new RangeError(`buffer "${label}": size must be positive, got ${size}`);
    // WebGPU requires sizes that are multiples of 4 for mapped/copied buffers; round up and count what is allocated.
    const alignedSize = Math.ceil(size / 4) * 4;
    const buffer = this.device.createBuffer({ label: `${tag}:${label}`, size: alignedSize, usage });
    this.live.set(buffer, { tag, size: alignedSize });
    return buffer;
  }

  /** Creates a buffer and fills it with `data` (mapped at creation: no staging copy). */
  createBufferWithData(tag: MemoryTag, label: string, data: ArrayBufferView, usage: GPUBufferUsageFlags): GPUBuffer {
    const alignedSize = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    const buffer = this.device.createBuffer({ label: `${tag}:${label}`, size: alignedSize, usage, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    this.live.set(buffer, { tag, size: alignedSize });
    return buffer;
  }

  destroyBuffer(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) throw new Error(`destroyBuffer: "${buffer.label}" is not a live buffer of this context`);
    buffer.destroy();
  }

  /** Bytes per tag of those of `buffers` that are still live (a layer's own report: gpu/layers/layer.ts). */
  bytesOf(buffers: Iterable<GPUBuffer>): Record<MemoryTag, number> {
    const bytes = Object.fromEntries(MEMORY_TAGS.map((t) => [t, 0])) as Record<MemoryTag, number>;
    for (const b of buffers) {
      const info = this.live.get(b);
      if (info) bytes[info.tag] += info.size;
    }
    return bytes;
  }

  memoryReport(): GpuMemoryReport {
    const bytes = this.bytesOf(this.live.keys());
    const total = MEMORY_TAGS.reduce((sum, tag) => sum + bytes[tag], 0);
    return { bytes, total, buffers: this.live.size };
  }

  /** Labels and sizes of every live buffer (for tests and the memory panel's details). */
  liveBuffers(): { label: string; tag: MemoryTag; size: number }[] {
    return [...this.live].map(([b, { tag, size }]) => ({ label: b.label, tag, size }));
  }

  /** A compute pipeline for `shader`'s `entryPoint`, cached by source + entry point + override constants. */
  pipeline(shader: string, entryPoint: string, constants?: Record<string, number>): GPUComputePipeline {
    const key = pipelineKey(shader, entryPoint, constants);
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      // Also while a pipelineAsync of the same key is under way: the caller needs it now.
      pipeline = this.device.createComputePipeline({ label: entryPoint, layout: 'auto', compute: { module: this.module(shader), entryPoint, constants } });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /**
   * The same pipeline compiled in the background (createComputePipelineAsync), into the same cache: a pipeline()
   * call after it resolved gets it without compiling. For pipelines that a load does not need at once. Rejects as
   * WebGPU does (a GPUPipelineError); pipeline() then compiles, and fails, where the pipeline is first used.
   */
  pipelineAsync(shader: string, entryPoint: string, constants?: Record<string, number>): Promise<GPUComputePipeline> {
    const key = pipelineKey(shader, entryPoint, constants);
    const cached = this.pipelines.get(key);
    if (cached) return Promise.resolve(cached);
    let pending = this.pendingPipelines.get(key);
    if (!pending) {
      pending = this.device
        .createComputePipelineAsync({ label: entryPoint, layout: 'auto', compute: { module: this.module(shader), entryPoint, constants } })
        .then((pipeline) => {
          if (!this.pipelines.has(key)) this.pipelines.set(key, pipeline);
          return this.pipelines.get(key)!;
        })
        .finally(() => this.pendingPipelines.delete(key));
      this.pendingPipelines.set(key, pending);
    }
    return pending;
  }

  private module(shader: string): GPUShaderModule {
    let module = this.modules.get(shader);
    if (!module) {
      module = this.device.createShaderModule({ code: shader });
      this.modules.set(shader, module);
    }
    return module;
  }

  /**
   * One line for diagnostics: the kernel variants in use and why, e.g. "subgroups (sizes 4–4), dot4I8Packed, chunk
   * products bitlinear_rows". The chunk path's other kernels are the same on every adapter.
   */
  describeKernels(): string {
    const k = this.kernelFeatures;
    if (k.rowPerThread) return `matvec rows per invocation, no barrier (a CPU adapter: barriers cost more than they save), norms ${k.fusedNorms ? 'fused into the matvecs' : 'as dispatches of one invocation'}, ${k.fewHeadThreads ? 'few invocations per head in the decode step' : 'a workgroup per head in the decode step'}, ${k.fewSamplerThreads ? 'a sampler of 4 invocations' : 'a sampler of 64'}, chunk products bitlinear_rows_pairs (two columns per multiply) and norms of one invocation per row`;
    const sg = k.subgroups ? `subgroups${this.subgroupSizes ? ` (sizes ${this.subgroupSizes.min}–${this.subgroupSizes.max})` : ''}` : 'no subgroups (workgroup-memory reductions)';
    return `${sg}, ${k.dot4 ? 'dot4I8Packed' : 'no dot4I8Packed (vector integer dot)'}, chunk products bitlinear_rows`;
  }

  /** Number of distinct pipelines compiled so far (tests check that decoding compiles nothing new). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Called once if the device is lost (driver reset, tab in background on some browsers, destroy()). */
  onLost(cb: (reason: string) => void): void {
    if (this.lostReason !== null) cb(this.lostReason);
    else this.lostCallbacks.push(cb);
  }

  /** Copies `size` bytes of a GPU buffer (needs COPY_SRC) to the CPU through a transient scratch buffer. */
  async readBuffer(src: GPUBuffer, size = src.size, offset = 0): Promise<ArrayBuffer> {
    const staging = this.createBuffer('scratch', 'readback', size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(src, offset, staging, 0, Math.ceil(size / 4) * 4);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, size);
    } finally {
      this.destroyBuffer(staging);
    }
  }

  /** A reusable MAP_READ buffer for repeated reads (state snapshots, the heatmap); see StagingReader. */
  stagingReader(label: string, maxBytes?: number): StagingReader {
    return new StagingReader(this, label, maxBytes);
  }

  destroy(): void {
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.pipelines.clear();
    this.modules.clear();
    this.device.destroy();
  }
}

/** One range of a GPU buffer (needs COPY_SRC) to read; offset and size are multiples of 4. */
export interface ReadRange {
  buffer: GPUBuffer;
  offset?: number;
  /** Defaults to the rest of the buffer. */
  size?: number;
}

/** Largest staging buffer a StagingReader keeps: bigger reads go through it in pieces (one submit + map each). */
export const STAGING_MAX_BYTES = 1 << 20;

/**
 * A MAP_READ buffer kept between reads (tagged `scratch`, so the memory report counts it) instead of a fresh one
 * per read: reading N ranges costs one submit and one mapAsync while they fit in the buffer. It grows to the
 * largest read seen, up to `maxBytes`; reads are serialised (one mapping at a time). The owner destroys it.
 */
export class StagingReader {
  private readonly ctx: GpuContext;
  private readonly label: string;
  private readonly maxBytes: number;
  private buffer: GPUBuffer | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(ctx: GpuContext, label: string, maxBytes = STAGING_MAX_BYTES) {
    if (!Number.isInteger(maxBytes) || maxBytes < 4 || maxBytes % 4 !== 0) throw new RangeError(`StagingReader: maxBytes must be a positive multiple of 4, got ${maxBytes}`);
    this.ctx = ctx;
    this.label = label;
    this.maxBytes = maxBytes;
  }

  /** Bytes the staging buffer holds now (0 before the first read). */
  get capacity(): number {
    return this.buffer?.size ?? 0;
  }

  /** Copies of the ranges, in order. */
  read(ranges: readonly ReadRange[]): Promise<ArrayBuffer[]> {
    const run = this.queue.then(() => this.readNow(ranges));
    this.queue = run.catch(() => undefined);
    return run;
  }

  destroy(): void {
    if (this.buffer) this.ctx.destroyBuffer(this.buffer);
    this.buffer = null;
  }

  private async readNow(ranges: readonly ReadRange[]): Promise<ArrayBuffer[]> {
    const parts = ranges.map(({ buffer, offset = 0, size = buffer.size - offset }) => {
      if (offset % 4 !== 0 || size % 4 !== 0 || size < 0 || offset + size > buffer.size) {
        throw new RangeError(`StagingReader: cannot read ${size} bytes at ${offset} of "${buffer.label}" (${buffer.size} bytes; offsets and sizes are multiples of 4)`);
      }
      return { buffer, offset, size, out: new Uint8Array(size) };
    });
    const total = parts.reduce((n, p) => n + p.size, 0);
    if (total === 0) return parts.map((p) => p.out.buffer);
    const wanted = Math.min(total, this.maxBytes);
    if (this.capacity < wanted) {
      this.destroy();
      this.buffer = this.ctx.createBuffer('scratch', this.label, wanted, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    }
    const staging = this.buffer!;
    // Fill the staging buffer with as many (pieces of) ranges as fit, read it back, repeat.
    let part = 0;
    let done = 0; // bytes of parts[part] already read
    while (part < parts.length) {
      const encoder = this.ctx.device.createCommandEncoder({ label: `${this.label} readback` });
      const pieces: { part: number; at: number; from: number; size: number }[] = [];
      let used = 0;
      while (part < parts.length && used < staging.size) {
        const p = parts[part];
        const size = Math.min(p.size - done, staging.size - used);
        if (size > 0) {
          encoder.copyBufferToBuffer(p.buffer, p.offset + done, staging, used, size);
          pieces.push({ part, at: used, from: done, size });
        }
        used += size;
        done += size;
        if (done === p.size) {
          part++;
          done = 0;
        }
      }
      if (used === 0) break; // only empty ranges were left
      this.ctx.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, used);
      try {
        const mapped = new Uint8Array(staging.getMappedRange(0, used));
        for (const piece of pieces) parts[piece.part].out.set(mapped.subarray(piece.at, piece.at + piece.size), piece.from);
      } finally {
        staging.unmap();
      }
    }
    return parts.map((p) => p.out.buffer);
  }
}

/** The pipeline cache's key: source, entry point and override constants (in name order). */
export function pipelineKey(shader: string, entryPoint: string, constants?: Record<string, number>): string {
  const constKey = constants ? JSON.stringify(Object.entries(constants).sort(([a], [b]) => (a < b ? -1 : 1))) : '';
  return `${entryPoint}\u0000${constKey}\u0000${shader}`;
}
