// The page's handle on the engine worker. The UI calls `createEngineClient()` once and talks to `api`;
// callbacks (progress, tokens, engine errors) must be wrapped with `proxy()` so that comlink calls them across
// the worker boundary instead of trying to clone them.
import { proxy, releaseProxy, wrap, type Remote } from 'comlink';
import type { EngineApi } from './api';

export { proxy };

export interface EngineClient {
  api: Remote<EngineApi>;
  worker: Worker;
  /** Releases the comlink proxy and terminates the worker (its GPU device goes with it). */
  dispose(): void;
}

export function createEngineClient(): EngineClient {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'bit-ttt-engine' });
  const api = wrap<EngineApi>(worker);
  let disposed = false;
  return {
    api,
    worker,
    dispose() {
      if (disposed) return;
      disposed = true;
      api[releaseProxy]();
      worker.terminate();
    },
  };
}
