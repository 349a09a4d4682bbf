// The page's view of the engine: load status and progress, the conversation, generation control, and
// recovery when the worker dies or the GPU device is lost. Components read its $state and call its methods.
import { createEngineClient, proxy, type EngineClient } from '../../worker/client';
import type { CachedModelMeta, EngineErrorEvent, GenerateResult, LoadOptions, LoadProgress, ModelInfo, ModelSource, SnapshotMeta, SnapshotTurn, StorageStatus, TokenEvent } from '../../worker/api';
import { errorCode } from '../../worker/errors';
import type { SamplingParams } from '../../engine/types';
import { requestPersistence } from './persistence';
import { errorMessage } from './format';
import { modelUrl, type ManifestModel } from './manifest';

export type EngineStatus = 'idle' | 'loading' | 'ready' | 'generating' | 'error';

export interface ChatTurn {
  id: number;
  role: 'user' | 'assistant' | 'note';
  text: string;
  /** Assistant turns: generated token count, streaming flag, tokens seen when Stop was pressed, final stats. */
  tokens: number;
  streaming: boolean;
  tokensAtStop?: number;
  /** Generated token ids (set when the reply is complete; tests compare them with the CLI). */
  tokenIds?: number[];
  result?: Pick<GenerateResult, 'stopReason' | 'prefillTokensPerSecond' | 'decodeTokensPerSecond' | 'promptTokens'>;
  error?: string;
  /** User and assistant turns: the model that read (or wrote) the turn, so that a switch shows what the next has not read. */
  model?: { key: string; label: string; epoch: number };
}

export interface ProgressView {
  phase: LoadProgress['phase'];
  bytes: number;
  totalBytes: number;
  rate?: number;
  /** Where the bytes come from: the network (first visit), IndexedDB, or a file the user opened. */
  origin: 'network' | 'cache' | 'file';
}

/** Where the current model came from, so that a lost device can reload it. */
type LoadedFrom = { label: string; modelKey: string; source: ModelSource; manifest?: ManifestModel };

const DEVICE_LOST = /device (was |is )?lost|GPUDevice.*lost|device-lost/i;

let turnIds = 0;

function lastAssistantIndex(turns: ChatTurn[]): number {
  for (let i = turns.length - 1; i >= 0; i--) if (turns[i].role === 'assistant') return i;
  return -1;
}

export class EngineController {
  status = $state<EngineStatus>('idle');
  progress = $state<ProgressView | null>(null);
  info = $state<ModelInfo | null>(null);
  loadError = $state<string | null>(null);
  /** Engine-level problems (worker crash, device lost) shown as a banner, with an action where one helps. */
  notice = $state<{ kind: 'error' | 'info'; text: string; action?: { label: string; run: () => void } } | null>(null);
  /**
   * A model that did not fit in GPU memory next to the loaded one: the page asks before dropping the loaded model
   * (acceptReplace) or keeps it (declineReplace).
   */
  replaceOffer = $state<{ label: string; current: string; message: string } | null>(null);
  turns = $state<ChatTurn[]>([]);
  /** Tokens the model has read since the last reset (prompts and replies). */
  position = $state(0);
  current = $state<{ label: string; modelKey: string } | null>(null);
  /**
   * Why Regenerate cannot run now although the model is ready (null when it can): there is no reply of this model
   * whose memory can be rewound (a model switch, Forget, a restored memory, nothing said yet).
   */
  /** What a screen reader is told when a reply is complete (the polite live region), not every token. */
  announcement = $state('');
  /** Bumped whenever a load gives the model a fresh memory: turns of an older epoch are not in its memory. */
  memoryEpoch = $state(0);
  regenerateBlocked = $state<string | null>('Nothing to regenerate yet: the model has not written a reply.');

  private client: EngineClient | null = null;
  private loadedFrom: LoadedFrom | null = null;
  private loadSeq = 0;
  private lastPrompt: { text: string; stateBefore: ArrayBuffer | null } | null = null;
  /** Set from a device loss until the model is loaded again. */
  private lostDevice = false;
  private pendingReplace: LoadedFrom | null = null;

  constructor() {
    // ?test-hooks: end-to-end tests reach the worker's debugLoseDevice() (see EngineApi) through the page.
    if (typeof location !== 'undefined' && new URLSearchParams(location.search).has('test-hooks')) {
      (globalThis as { __bitTttTestHooks?: unknown }).__bitTttTestHooks = { loseDevice: () => this.client?.api.debugLoseDevice() };
    }
  }

  /** True when the loaded model has TTT layers (a memory that learns); false for the KV baseline or none loaded. */
  get hasTtt(): boolean {
    return this.info?.config.mixers.includes('ttt') ?? false;
  }

  private modelTag(): ChatTurn['model'] {
    return this.current ? { key: this.current.modelKey, label: this.current.label, epoch: this.memoryEpoch } : undefined;
  }

  /** Whether the loaded model's memory has read this turn (false for turns from before the last model load). */
  wasRead(t: ChatTurn): boolean {
    return t.role === 'note' || t.model?.epoch === this.memoryEpoch;
  }

  get busy(): boolean {
    return this.status === 'loading' || this.status === 'generating';
  }

  /** Loads a model from the manifest: from IndexedDB when it is cached there, otherwise from the network. */
  async loadManifestModel(m: ManifestModel): Promise<void> {
    let cached = false;
    try { cached = (await this.ensureClient().api.cachedModel(m.id)).meta !== undefined; } catch { /* no IndexedDB: use the network */ }
    const source: ModelSource = cached ? { kind: 'cache', cacheKey: m.id } : { kind: 'url', url: modelUrl(m), cacheKey: m.id };
    await this.load({ label: m.name, modelKey: m.id, source, manifest: m });
    if (source.kind === 'url' && this.status === 'ready' && this.current?.modelKey === m.id) await this.checkCached(m);
  }

  /** The worker caches downloads best-effort; tell the user when that failed (full quota, no IndexedDB). */
  private async checkCached(m: ManifestModel): Promise<void> {
    let status: { meta?: CachedModelMeta; writeError?: string } = {};
    try { status = await this.ensureClient().api.cachedModel(m.id); } catch { /* treated as not cached */ }
    if (!status.meta) {
      const why = (status.writeError ?? 'this browser gives the page no storage (a private window?)').replace(/\.?$/, '.');
      this.notice = { kind: 'info', text: `${m.name} is loaded and works, but it could not be saved in this browser: ${why} It will be downloaded again next time and will not work offline.` };
      return;
    }
    // The first cached model is a good moment to ask the browser not to evict it.
    void requestPersistence().catch(() => false);
  }

  async loadFile(name: string, bytes: ArrayBuffer): Promise<void> {
    await this.load({ label: name, modelKey: `file:${name}`, source: { kind: 'bytes', bytes, name } });
  }

  private async load(from: LoadedFrom, retryFromNetwork = true, options: LoadOptions = {}): Promise<void> {
    const seq = ++this.loadSeq;
    void this.cancelGeneration();
    this.replaceOffer = null;
    this.pendingReplace = null;
    // The worker's load is a transaction: the loaded model keeps its memory unless the new one is ready.
    const previousInfo = this.info;
    const wasReady = this.status === 'ready' || this.status === 'generating';
    this.status = 'loading';
    this.loadError = null;
    this.info = null;
    const origin: ProgressView['origin'] = from.source.kind === 'url' ? 'network' : from.source.kind === 'cache' ? 'cache' : 'file';
    this.progress = { phase: origin === 'network' ? 'download' : 'cache-read', bytes: 0, totalBytes: from.manifest?.bytes ?? 0, origin };
    const client = this.ensureClient();
    const onProgress = proxy((p: LoadProgress) => {
      if (seq === this.loadSeq) this.progress = { ...p, origin };
    });
    try {
      // A file's bytes are cloned (not transferred) to the worker, so `from` can reload them after a device loss.
      const info = await client.api.load(from.source, onProgress, options);
      if (seq !== this.loadSeq) return;
      const previousKey = this.current?.modelKey;
      this.info = info;
      this.loadedFrom = from;
      this.current = { label: from.label, modelKey: from.modelKey };
      this.lostDevice = false;
      if (info.restoredPosition !== undefined) {
        // The conversation goes on: same model, memory put back (regenerate's saved state is still valid).
        this.position = info.restoredPosition;
      } else {
        this.position = 0;
        this.lastPrompt = null;
        // A new memory: the turns so far were read by another model (or this one before), not by this memory.
        this.memoryEpoch++;
        const read = this.turns.some((t) => t.role !== 'note');
        this.regenerateBlocked = !read
          ? 'Nothing to regenerate yet: the model has not written a reply.'
          : previousKey !== from.modelKey
            ? `Nothing to regenerate: ${from.label} has not written a reply in this conversation yet.`
            : 'Nothing to regenerate: the model was loaded again and its memory starts over.';
        if (read && previousKey !== from.modelKey) {
          this.turns.push({ id: ++turnIds, role: 'note', text: `Switched to ${from.label}. It has not read the conversation above (dimmed): its memory starts empty, and it reads only what follows.`, tokens: 0, streaming: false });
        }
      }
      this.status = 'ready';
    } catch (err) {
      if (seq !== this.loadSeq) return;
      // A corrupt cache entry is removed by the worker: fetch it again once.
      if (from.source.kind === 'cache' && from.manifest && retryFromNetwork && !isGpuRefusal(err)) {
        this.notice = { kind: 'info', text: `The cached copy of ${from.label} could not be used (${errorMessage(err)}); downloading it again.` };
        await this.load({ ...from, source: { kind: 'url', url: modelUrl(from.manifest), cacheKey: from.modelKey } }, false, options);
        return;
      }
      const keepPrevious = wasReady && previousInfo !== null && this.loadedFrom !== null && !options.replace && !this.lostDevice;
      this.info = keepPrevious ? previousInfo : null;
      this.status = keepPrevious ? 'ready' : 'error';
      if (keepPrevious && errorCode(err) === 'memory-tight') {
        // Not an error yet: ask the person whether to drop the loaded model for this one.
        const current = this.current?.label ?? 'the loaded model';
        this.pendingReplace = from;
        this.replaceOffer = {
          label: from.label,
          current,
          message: `There is not enough GPU memory for ${from.label} next to ${current}, which is still loaded and answering. ` +
            `Unload ${current} to load ${from.label}? Its conversation memory would be lost.`,
        };
        return;
      }
      const still = keepPrevious && this.current ? ` ${this.current.label} is still loaded, with its memory.` : '';
      this.loadError = `${errorMessage(err).replace(/\.?$/, '.')}${still}`;
      if (errorCode(err) === 'device-lost' || DEVICE_LOST.test(this.loadError)) this.handleDeviceLost(errorMessage(err), null);
    }
  }

  /** The person agreed to drop the loaded model (and its memory) for the one that did not fit beside it. */
  async acceptReplace(): Promise<void> {
    const from = this.pendingReplace;
    if (!from) return;
    await this.load(from, true, { replace: true });
    if (this.status === 'ready') this.turns.push({ id: ++turnIds, role: 'note', text: `Switched to ${from.label}; the previous model and its memory were unloaded to make room.`, tokens: 0, streaming: false });
  }

  declineReplace(): void {
    this.pendingReplace = null;
    this.replaceOffer = null;
  }

  /** Appends the prompt to the model's stream and streams a reply into a new assistant turn. */
  async send(text: string, params: SamplingParams): Promise<void> {
    if (this.status !== 'ready' || !this.client) return;
    let stateBefore: ArrayBuffer | null = null;
    try { stateBefore = await this.client.api.saveState(); } catch { /* regenerate falls back to a note */ }
    this.lastPrompt = { text, stateBefore };
    this.regenerateBlocked = stateBefore ? null : 'This engine cannot rewind its memory, so a reply cannot be regenerated. Use "Forget" to start over.';
    this.turns.push({ id: ++turnIds, role: 'user', text, tokens: 0, streaming: false, model: this.modelTag() });
    await this.generateInto(text, params);
  }

  /** Rewinds the TTT memory to before the last reply and samples it again with the next seed. */
  async regenerate(params: SamplingParams): Promise<void> {
    if (this.status !== 'ready' || !this.client || !this.lastPrompt || this.regenerateBlocked) return;
    const { text, stateBefore } = this.lastPrompt;
    if (!stateBefore) {
      this.notice = { kind: 'info', text: 'This engine cannot rewind its memory, so a reply cannot be regenerated. Use "Forget" to start over.' };
      return;
    }
    await this.client.api.restoreState(stateBefore.slice(0));
    const last = lastAssistantIndex(this.turns);
    if (last >= 0) this.turns.splice(last, 1);
    await this.generateInto(text, { ...params, seed: (params.seed + 1 + this.turns.length) % 2 ** 31 });
  }

  private async generateInto(prompt: string, params: SamplingParams): Promise<void> {
    const client = this.client!;
    this.turns.push({ id: ++turnIds, role: 'assistant', text: '', tokens: 0, streaming: true, model: this.modelTag() });
    const turn = this.turns[this.turns.length - 1]; // the reactive proxy, so that updates render
    this.status = 'generating';
    const onToken = proxy((e: TokenEvent) => {
      this.position = e.position + 1;
      if (e.phase !== 'generated') return;
      turn.text += e.text;
      turn.tokens += 1;
    });
    try {
      const result = await client.api.generate(prompt, params, onToken);
      // The final text is authoritative (it includes bytes that were still pending at the last event).
      turn.text = result.text;
      turn.tokens = result.tokens.length;
      turn.tokenIds = result.tokens;
      turn.result = {
        stopReason: result.stopReason,
        prefillTokensPerSecond: result.prefillTokensPerSecond,
        decodeTokensPerSecond: result.decodeTokensPerSecond,
        promptTokens: result.promptTokens,
      };
      this.announcement = `${turn.model?.label ?? 'The model'} replied (${result.tokens.length} tokens): ${result.text.trim()}`;
      // The engine's own count: the last sampled token is only read with the next prompt.
      this.position = (await client.api.stats()).position;
      this.status = 'ready';
    } catch (err) {
      turn.error = errorMessage(err);
      this.announcement = `Generation failed: ${turn.error}`;
      this.status = 'ready';
      if (errorCode(err) === 'device-lost' || DEVICE_LOST.test(turn.error)) this.handleDeviceLost(turn.error, null);
    } finally {
      turn.streaming = false;
    }
  }

  /**
   * Stop: the worker finishes the token in flight and returns. tokensAtStop becomes the count the worker had sent
   * when the stop reached it (a token may still be on its way to the page when Stop is pressed); at most one more
   * follows.
   */
  stop(): void {
    const turn = this.turns[lastAssistantIndex(this.turns)];
    if (turn?.streaming) turn.tokensAtStop = turn.tokens;
    void this.cancelGeneration()?.then((sent) => {
      if (turn && sent > 0) turn.tokensAtStop = Math.max(turn.tokensAtStop ?? 0, sent);
    });
  }

  /** Cancels the generation in flight, if any: the worker's count of tokens sent when the cancel reached it, else null. */
  private cancelGeneration(): Promise<number> | null {
    return this.status === 'generating' && this.client ? this.client.api.cancel() : null;
  }

  /** Forget: the TTT memory goes back to its initial state and the conversation starts over. */
  async forget(): Promise<void> {
    if (!this.client || this.status !== 'ready') return;
    await this.client.api.reset();
    this.turns = [{ id: ++turnIds, role: 'note', text: 'Memory reset: the model has forgotten everything it read.', tokens: 0, streaming: false }];
    this.position = 0;
    this.lastPrompt = null;
    this.regenerateBlocked = 'Nothing to regenerate: the memory was reset, and the model has not written a reply since.';
  }

  async saveState(): Promise<ArrayBuffer> {
    if (!this.client || this.status !== 'ready') throw new Error('Load a model first.');
    return await this.client.api.saveState();
  }

  async restoreState(data: ArrayBuffer, label: string): Promise<void> {
    if (!this.client || this.status !== 'ready') throw new Error('Load a model first.');
    await this.client.api.restoreState(data);
    this.position = this.client ? (await this.client.api.stats()).position : this.position;
    this.lastPrompt = null;
    this.regenerateBlocked = 'Nothing to regenerate: the memory was restored, and the model has not written a reply since.';
    this.turns.push({ id: ++turnIds, role: 'note', text: `Memory restored from “${label}”.`, tokens: 0, streaming: false });
  }

  // ---- storage: the worker alone opens IndexedDB; the panels ask it through these ----

  listCachedModels(): Promise<CachedModelMeta[]> {
    return this.ensureClient().api.listCachedModels();
  }

  deleteCachedModel(key: string): Promise<void> {
    return this.ensureClient().api.deleteCachedModel(key);
  }

  storageStatus(): Promise<StorageStatus> {
    return this.ensureClient().api.storageStatus();
  }

  listSnapshots(modelKey: string): Promise<SnapshotMeta[]> {
    return this.ensureClient().api.listSnapshots(modelKey);
  }

  /**
   * Saves the TTT memory of the loaded model under `name`, in the worker (its bytes never come to the page), with
   * the conversation this memory has read, so that a restore brings both back.
   */
  async saveSnapshot(name: string): Promise<SnapshotMeta> {
    if (!this.client || this.status !== 'ready' || !this.current) throw new Error('Load a model first.');
    const transcript: SnapshotTurn[] = this.turns
      .filter((t): t is ChatTurn & { role: 'user' | 'assistant' } => t.role !== 'note' && this.wasRead(t))
      .map((t) => ({ role: t.role, text: t.text }));
    return this.client.api.saveSnapshot(name, this.current.modelKey, transcript);
  }

  /** Puts a saved memory back; the thread becomes the conversation that memory had read (when it was saved with it). */
  async restoreSnapshot(name: string): Promise<void> {
    if (!this.client || this.status !== 'ready') throw new Error('Load a model first.');
    const meta = await this.client.api.restoreSnapshot(name);
    this.position = (await this.client.api.stats()).position;
    this.lastPrompt = null;
    this.regenerateBlocked = 'Nothing to regenerate: the memory was restored, and the model has not written a reply since.';
    // A new memory: what was on screen is not in it any more; the saved conversation is.
    this.memoryEpoch++;
    const model = this.modelTag();
    if (meta.transcript) {
      this.turns = [
        ...meta.transcript.map((t): ChatTurn => ({ id: ++turnIds, role: t.role, text: t.text, tokens: 0, streaming: false, model })),
        { id: ++turnIds, role: 'note', text: `Memory restored from “${name}”, with the conversation it had read (above).`, tokens: 0, streaming: false },
      ];
    } else {
      this.turns.push({ id: ++turnIds, role: 'note', text: `Memory restored from “${name}”. It was saved without its conversation, so what it read is not shown; the conversation above (dimmed) is not in it.`, tokens: 0, streaming: false });
    }
  }

  deleteSnapshot(name: string): Promise<void> {
    return this.ensureClient().api.deleteSnapshot(name);
  }

  dispose(): void {
    this.client?.dispose();
    this.client = null;
  }

  private ensureClient(): EngineClient {
    if (this.client) return this.client;
    const client = createEngineClient();
    // Errors the worker does not catch (a crash in a module, a failed import) must be seen, not swallowed.
    client.worker.addEventListener('error', (e) => {
      const text = e.message || 'the engine worker failed to start';
      this.notice = { kind: 'error', text: `Engine error: ${text}` };
      if (this.status === 'loading') { this.loadError = text; this.status = 'error'; }
    });
    // Errors outside a call: after a device loss the worker has dropped the model and needs load() again.
    void client.api.onError(proxy((e: EngineErrorEvent) => {
      if (e.kind === 'device-lost') this.handleDeviceLost(e.message, e.restorablePosition ?? null);
      else this.notice = { kind: 'error', text: `Engine error: ${e.message}` };
    }));
    client.worker.addEventListener('messageerror', () => {
      this.notice = { kind: 'error', text: 'Engine error: a message from the worker could not be read.' };
    });
    this.client = client;
    return client;
  }

  /**
   * The worker lost its GPU device, and the model with it: say so and offer to load the model again, with the
   * memory snapshot the worker kept from before the loss when there is one.
   */
  private handleDeviceLost(message: string, restorablePosition: number | null): void {
    const from = this.loadedFrom;
    // The call's rejection and the onError event report the same loss; the event knows about the snapshot.
    const alreadyReported = this.lostDevice;
    this.lostDevice = true;
    this.info = null;
    if (this.status !== 'loading') this.status = 'error';
    if (alreadyReported && restorablePosition === null) return;
    const memory = restorablePosition === null
      ? 'its memory will start over (no copy of it was kept)'
      : `its memory will be restored as it was after the last complete reply (${restorablePosition} tokens read)`;
    const text = `${message.replace(/\.?$/, '.')} ${from ? `Reload ${from.label} to go on — ${memory}.` : 'Load a model to go on.'}`;
    this.notice = { kind: 'error', text, action: from ? { label: 'Reload model', run: () => void this.reloadAfterLoss() } : undefined };
    if (!alreadyReported) this.turns.push({ id: ++turnIds, role: 'note', text: 'GPU device lost: the model was unloaded.', tokens: 0, streaming: false });
  }

  /** Loads the lost model again (from the cache when it came from the manifest) and puts its memory back. */
  async reloadAfterLoss(): Promise<void> {
    const from = this.loadedFrom;
    if (!from || this.status === 'loading') return;
    this.notice = null;
    const source: ModelSource = from.manifest ? { kind: 'cache', cacheKey: from.modelKey } : from.source;
    await this.load({ ...from, source }, true, { restoreAfterLoss: true });
    if (this.status !== 'ready') return;
    const restored = this.info?.restoredPosition;
    const text = restored !== undefined
      ? `Model reloaded on a fresh GPU device; its memory was restored (${restored} tokens read).`
      : 'Model reloaded on a fresh GPU device; its memory starts over.';
    this.turns.push({ id: ++turnIds, role: 'note', text, tokens: 0, streaming: false });
  }
}

/** Errors where the file was read fine but the GPU engine refused it: fetching it again would not help. */
function isGpuRefusal(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'unsupported' || code === 'memory-tight' || code === 'out-of-memory' || code === 'gpu-refused' || code === 'device-lost';
}

