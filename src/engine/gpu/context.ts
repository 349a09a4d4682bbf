// The WebGPU device of the engine: adapter/device set-up, a tagged buffer allocator (so that the memory chart shows
// measured bytes, not estimates) and a pipeline cache. DOM-free: works in a worker, a page, or Node with the
// `webgpu` package (pass its `gpu` object in).
import type { MemoryTag } from '../types';

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
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  /** Features the engine may use when present (e.g. 'subgroups', 'timestamp-query'). */
  readonly features: ReadonlySet<string>;
  private readonly live = new Map<GPUBuffer, LiveBuffer>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly lostCallbacks: ((reason: string) => void)[] = [];
  private lostReason: string | null = null;

  private constructor(device: GPUDevice, adapterInfo: string) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.features = new Set([...device.features]);
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
    };
    const device = await adapter.requestDevice({ requiredLimits: wanted });
    const info = adapter.info;
    const adapterInfo = info ? [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' / ') : 'unknown';
    return new GpuContext(device, adapterInfo || 'unknown');
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

  memoryReport(): GpuMemoryReport {
    const bytes = Object.fromEntries(MEMORY_TAGS.map((t) => [t, 0])) as Record<MemoryTag, number>;
    let total = 0;
    for (const { tag, size } of this.live.values()) {
      bytes[tag] += size;
      total += size;
    }
    return { bytes, total, buffers: this.live.size };
  }

  /** Labels and sizes of every live buffer (for tests and the memory panel's details). */
  liveBuffers(): { label: string; tag: MemoryTag; size: number }[] {
    return [...this.live].map(([b, { tag, size }]) => ({ label: b.label, tag, size }));
  }

  /** A compute pipeline for `shader`'s `entryPoint`, cached by source + entry point + override constants. */
  pipeline(shader: string, entryPoint: string, constants?: Record<string, number>): GPUComputePipeline {
    const constKey = constants ? JSON.stringify(Object.entries(constants).sort(([a], [b]) => (a < b ? -1 : 1))) : '';
    const key = `${entryPoint}\u0000${constKey}\u0000${shader}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(shader);
      if (!module) {
        module = this.device.createShaderModule({ code: shader });
        this.modules.set(shader, module);
      }
      pipeline = this.device.createComputePipeline({
        label: entryPoint,
        layout: 'auto',
        compute: { module, entryPoint, constants },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
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

  destroy(): void {
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.pipelines.clear();
    this.modules.clear();
    this.device.destroy();
  }
}
