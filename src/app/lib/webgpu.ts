// Whether this browser can run the engine at all: WebGPU must exist and give an adapter.
export type WebGpuSupport =
  | { ok: true; adapter: string }
  | { ok: false; reason: 'no-api' | 'no-adapter' | 'insecure-context'; detail: string };

export async function detectWebGpu(): Promise<WebGpuSupport> {
  if (!window.isSecureContext) {
    return { ok: false, reason: 'insecure-context', detail: 'WebGPU needs a secure context: open the playground over https:// or from http://localhost.' };
  }
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { ok: false, reason: 'no-api', detail: 'This browser does not expose WebGPU (navigator.gpu is missing).' };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { ok: false, reason: 'no-adapter', detail: 'WebGPU is present but no GPU adapter is available (blocklisted driver, or WebGPU disabled).' };
    const info = adapter.info;
    return { ok: true, adapter: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' / ') || 'unknown adapter' };
  } catch (err) {
    return { ok: false, reason: 'no-adapter', detail: `requestAdapter() failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
