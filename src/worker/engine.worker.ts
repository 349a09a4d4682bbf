// The engine's Web Worker: WebGPU, the model cache and the generation loop all live here, so that the page's main
// thread only renders. The page talks to it through comlink (client.ts).
import { expose } from 'comlink';
import { GpuContext } from '../engine/gpu/context';
import { ModelCache } from '../storage/modelCache';
import { Engine } from './engine';
import { sendErrorCodes } from './errors';

let cache: ModelCache | null | undefined;

const engine = new Engine({
  createContext: () => GpuContext.create(),
  openCache: async () => {
    if (cache === undefined) {
      try {
        cache = new ModelCache();
      } catch {
        cache = null; // no IndexedDB here (some private modes): models load, they just are not cached
      }
    }
    return cache;
  },
  fetch: (input, init) => fetch(input, init),
});

sendErrorCodes();
expose(engine);
