// State of the "See inside" tab: its own engine workers (one per model, so the TTT model and the KV baseline read
// the same text without disturbing each other or the chat), the text, the measured series and the export.
// Progress arrives per readback chunk; the charts are told to redraw at most once per animation frame.
import { createEngineClient, proxy, type EngineClient } from '../../worker/client';
import type { FeedProgress, FeedResult, ModelInfo, ModelSource } from '../../worker/api';
import { errorMessage } from '../lib/format';
import { errorCode } from '../../worker/errors';
import { modelUrl, type ManifestModel } from '../lib/manifest';
import { appendFeed, buildExport, emptyReading, exportJson, GPU_CAPACITY_BYTES, learningSummary, memoryCsv, PROJECTION_TOKENS, projectTotals, tokensCsv, type ReadingSeries, type ViewsExport } from '../lib/series';
import { BUILT_IN_STORY } from './story';
import { judgeAnswer, recallPlan, type RecallItemText } from '../lib/recall';

export type Arch = 'ttt' | 'kv';

// Live drawing budget: the page and SwiftShader share the CPU, so the charts redraw at most twice a second
// and the heatmap (4 small readbacks in the worker) every 2 s; the final state is always drawn. At 4 redraws/s the
// live-vs-off slowdown measured 10.1% on a quiet machine; at 2/s 3.1% and 11.0% (docs/VIEWS.md: noisy).
const REDRAW_INTERVAL_MS = 500;
const HEATMAP_INTERVAL_MS = 2000;

/** One answer of the recall panel: the model's greedy continuation after the question, and the name it gives. */
export interface RecallAnswer {
  continuation: string;
  said: string;
  correct: boolean;
  /** Tokens from the fact's answer to the question's answer, in this model's tokens. */
  distance: number;
}

/** A column of the recall panel: the TTT model, the TTT model with its memory off, the KV baseline. */
export type RecallColumn = 'ttt' | 'off' | 'kv';

export interface RecallRun {
  item: number;
  models: Partial<Record<RecallColumn, string>>;
  rows: { key: string; answer: string; answers: Partial<Record<RecallColumn, RecallAnswer>> }[];
  /** Columns whose model could not read the whole item (a KV model at its maxContext). */
  cutShort: RecallColumn[];
}

/** Greedy, no penalty: the answer is the argmax continuation, as the recall probe scores it. */
const RECALL_SAMPLING = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, maxTokens: 6, stopAtEot: true };

interface LoadedModel {
  client: EngineClient;
  manifest: ManifestModel;
  info: ModelInfo;
}

export interface ReadPlan {
  ttt: boolean;
  kv: boolean;
  /** Read the text a second time right after the first (state carried over): the learning view. */
  twice: boolean;
  /**
   * Also read with the TTT model's memory off (inner learning rate × 0), before the reading with it on, so the
   * learning view shows what the memory is worth; the drift and heatmap then show the memory-on reading.
   */
  memoryOff?: boolean;
}

export class ViewsController {
  models = $state<ManifestModel[]>([]);
  selected = $state<Record<Arch, string>>({ ttt: '', kv: '' });
  text = $state(BUILT_IN_STORY);
  textSource = $state('built-in story');
  status = $state<'idle' | 'loading' | 'reading' | 'done' | 'cancelled' | 'error'>('idle');
  error = $state<string | null>(null);
  progress = $state<{ model: string; pass: number; read: number; total: number; memoryOff?: boolean } | null>(null);
  /** Off: the charts redraw only when a reading ends (to measure what live drawing costs). */
  live = $state(true);
  /** Bumped (at most once per frame) when the series change; charts derive from it. */
  version = $state(0);
  readings = $state.raw<ReadingSeries[]>([]);
  results = $state.raw<{ model: string; arch: Arch; pass: number; memoryOff: boolean; result: FeedResult }[]>([]);
  infos = $state.raw<Partial<Record<Arch, ModelInfo>>>({});
  layer = $state(0);
  head = $state(0);
  heatmap = $state.raw<{ layer: number; head: number; position: number; data: Float32Array; f: number } | null>(null);

  recall = $state.raw<RecallRun | null>(null);
  recallStatus = $state<'idle' | 'running' | 'done' | 'cancelled' | 'error'>('idle');
  recallProgress = $state<string | null>(null);

  private loaded: Partial<Record<Arch, LoadedModel>> = {};
  private recallCancelled = false;
  private frame = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastDrawAt = 0;
  private reading: LoadedModel | null = null;
  private heatmapBusy = false;
  private lastHeatmapAt = 0;

  setModels(models: ManifestModel[]): void {
    this.models = models;
    for (const arch of ['ttt', 'kv'] as const) {
      if (!models.some((m) => m.id === this.selected[arch])) this.selected[arch] = models.find((m) => m.arch === arch)?.id ?? '';
    }
  }

  /** The TTT reading whose drift the drift view shows: the latest. */
  get driftReading(): ReadingSeries | null {
    void this.version;
    for (let i = this.readings.length - 1; i >= 0; i--) {
      const r = this.readings[i];
      if (r.arch === 'ttt' && !r.memoryOff && r.heads.length > 0) return r;
    }
    return null;
  }

  async read(plan: ReadPlan): Promise<void> {
    if (this.status === 'loading' || this.status === 'reading' || this.recallStatus === 'running') return;
    const text = this.text;
    if (text.trim() === '') {
      this.error = 'There is no text to read: paste one, pick a file or use the built-in story.';
      this.status = 'error';
      return;
    }
    const archs = (['ttt', 'kv'] as const).filter((a) => plan[a]);
    if (archs.length === 0) {
      this.error = 'Pick at least one model to read with.';
      this.status = 'error';
      return;
    }
    this.error = null;
    this.readings = [];
    this.results = [];
    this.heatmap = null;
    this.bump();
    try {
      for (const arch of archs) {
        this.status = 'loading';
        const model = await this.load(arch);
        // Memory off first (TTT only), so that the state left for the drift view and heatmap is the memory-on one.
        for (const memoryOff of arch === 'ttt' && plan.memoryOff ? [true, false] : [false]) {
          if (arch === 'ttt') await model.client.api.setMemory(!memoryOff);
          await model.client.api.reset();
          try {
            for (let pass = 1; pass <= (plan.twice ? 2 : 1); pass++) {
              this.status = 'reading';
              const result = await this.readOnce(model, arch, pass, text, memoryOff);
              this.results = [...this.results, { model: model.manifest.id, arch, pass, memoryOff, result }];
              if (result.stopReason === 'cancelled') {
                this.status = 'cancelled';
                return;
              }
              if (result.stopReason === 'context-full') break; // a second reading cannot start: the KV cache is full
            }
          } finally {
            if (memoryOff) await model.client.api.setMemory(true);
          }
        }
        if (arch === 'ttt') await this.refreshHeatmap(true);
      }
      this.status = 'done';
    } catch (e) {
      this.error = errorMessage(e);
      this.status = 'error';
    } finally {
      this.reading = null;
      this.progress = null;
      this.bump(true);
    }
  }

  cancel(): void {
    void this.reading?.client.api.cancel();
  }

  /**
   * Plays one item of the recall probe through the TTT model, the TTT model with its memory off and the KV baseline,
   * each from a reset (src/app/lib/recall.ts has the plan). The answers arrive question by question.
   */
  async playRecall(index: number, item: RecallItemText): Promise<void> {
    if (this.status === 'loading' || this.status === 'reading' || this.recallStatus === 'running') return;
    const plan = recallPlan(item);
    this.recallStatus = 'running';
    this.recallCancelled = false;
    this.error = null;
    let run: RecallRun = { item: index, models: {}, rows: item.queries.map((q) => ({ key: q.key, answer: q.answer, answers: {} })), cutShort: [] };
    this.recall = run;
    try {
      for (const [column, arch] of [['ttt', 'ttt'], ['off', 'ttt'], ['kv', 'kv']] as const) {
        if (!this.selected[arch]) continue;
        this.recallProgress = `loading the ${arch === 'ttt' ? 'TTT model' : 'KV baseline'}`;
        const model = await this.load(arch);
        const { api } = model.client;
        run = { ...run, models: { ...run.models, [column]: model.manifest.id } };
        this.recall = run;
        if (arch === 'ttt') await api.setMemory(column !== 'off');
        try {
          await api.reset();
          const factAt = new Map<string, number>();
          let read = 0;
          const readTo = async (at: number): Promise<boolean> => {
            if (at <= read) return true;
            const r = await api.feed(plan.stream.slice(read, at), { loss: false });
            read = at;
            return r.stopReason === 'done';
          };
          for (const step of plan.steps) {
            if (this.recallCancelled) {
              this.recallStatus = 'cancelled';
              return;
            }
            this.recallProgress = `${model.manifest.id}${column === 'off' ? ' (memory off)' : ''}: ${step.kind === 'fact' ? 'reading the facts and filler' : `question ${step.query + 1} of ${item.queries.length}`}`;
            if (!(await readTo(step.at))) {
              run = { ...run, cutShort: [...run.cutShort, column] };
              break;
            }
            if (step.kind === 'fact') {
              factAt.set(step.key, (await api.stats()).position);
              continue;
            }
            // Ask without disturbing the stream: the continuation is read into a copy of the state, then dropped.
            const saved = await api.saveState();
            const reply = await api.generate(' is', RECALL_SAMPLING);
            await api.restoreState(saved);
            if (!(await readTo(step.answerAt))) {
              run = { ...run, cutShort: [...run.cutShort, column] };
              break;
            }
            const row = run.rows[step.query];
            const distance = (await api.stats()).position - (factAt.get(row.key) ?? 0);
            const answer: RecallAnswer = { continuation: reply.text, ...judgeAnswer(reply.text, row.answer), distance };
            run = { ...run, rows: run.rows.map((r, i) => (i === step.query ? { ...r, answers: { ...r.answers, [column]: answer } } : r)) };
            this.recall = run;
          }
          this.recall = run;
        } finally {
          if (column === 'off') await api.setMemory(true);
        }
      }
      this.recallStatus = 'done';
    } catch (e) {
      this.error = errorMessage(e);
      this.recallStatus = 'error';
    } finally {
      this.recallProgress = null;
    }
  }

  cancelRecall(): void {
    this.recallCancelled = true;
  }

  selectHead(layer: number, head: number): void {
    this.layer = layer;
    this.head = head;
    void this.refreshHeatmap(true);
  }

  /** Reads W̄ − W_init of the selected head (throttled to 4 per second while reading). */
  async refreshHeatmap(force = false): Promise<void> {
    const model = this.loaded.ttt;
    if (!model || this.heatmapBusy) return;
    const now = performance.now();
    if (!force && now - this.lastHeatmapAt < HEATMAP_INTERVAL_MS) return;
    const tttLayers = model.info.config.mixers.flatMap((m, i) => (m === 'ttt' ? [i] : []));
    if (!tttLayers.includes(this.layer)) this.layer = tttLayers[0] ?? 0;
    if (tttLayers.length === 0) return;
    this.heatmapBusy = true;
    this.lastHeatmapAt = now;
    try {
      const data = await model.client.api.tttMatrix(this.layer, this.head);
      const position = (await model.client.api.stats()).position;
      this.heatmap = { layer: this.layer, head: this.head, position, data, f: Math.round(Math.sqrt(data.length)) };
    } catch (e) {
      this.error = errorMessage(e);
    } finally {
      this.heatmapBusy = false;
    }
  }

  exportData(): ViewsExport {
    const projections: ViewsExport['projections'] = [];
    for (const arch of ['ttt', 'kv'] as const) {
      const info = this.infos[arch];
      const withMemory = this.readings.filter((r) => r.arch === arch && !r.memoryOff && r.memory.length > 0);
      const last = withMemory.at(-1)?.memory.at(-1);
      if (info && last) projections.push({ model: withMemory[0].model, arch, points: projectTotals(info.config, last, PROJECTION_TOKENS) });
    }
    return buildExport(this.readings, projections);
  }

  downloadJson(): void {
    download('bit-ttt-views.json', exportJson(this.exportData()), 'application/json');
  }

  downloadCsv(): void {
    download('bit-ttt-tokens.csv', tokensCsv(this.readings), 'text/csv');
    download('bit-ttt-memory.csv', memoryCsv(this.readings), 'text/csv');
  }

  get learning() {
    void this.version;
    return learningSummary(this.readings);
  }

  get capacityBytes(): number {
    return GPU_CAPACITY_BYTES;
  }

  dispose(): void {
    cancelAnimationFrame(this.frame);
    clearTimeout(this.timer);
    for (const m of Object.values(this.loaded)) m?.client.dispose();
    this.loaded = {};
  }

  private async load(arch: Arch): Promise<LoadedModel> {
    const manifest = this.models.find((m) => m.id === this.selected[arch] && m.arch === arch);
    if (!manifest) throw new Error(`No ${arch === 'ttt' ? 'TTT' : 'KV baseline'} model is listed in models/manifest.json.`);
    const have = this.loaded[arch];
    if (have && have.manifest.id === manifest.id) return have;
    have?.client.dispose();
    delete this.loaded[arch];
    const client = createEngineClient();
    try {
      this.progress = { model: manifest.id, pass: 0, read: 0, total: 0 };
      const info = await loadOnce(client, manifest);
      const model = { client, manifest, info };
      this.loaded[arch] = model;
      this.infos = { ...this.infos, [arch]: info };
      return model;
    } catch (e) {
      client.dispose();
      throw e;
    }
  }

  private async readOnce(model: LoadedModel, arch: Arch, pass: number, text: string, memoryOff = false): Promise<FeedResult> {
    const series = emptyReading(model.manifest.id, arch, pass);
    if (memoryOff) series.memoryOff = true;
    if (arch === 'ttt') series.initialNorms = await this.headNorms(model);
    this.readings = [...this.readings, series];
    this.reading = model;
    this.progress = { model: model.manifest.id, pass, read: 0, total: 0, memoryOff };
    const onProgress = (p: FeedProgress) => {
      appendFeed(series, p.tokens, p.memory);
      this.progress = { model: model.manifest.id, pass, read: p.read, total: p.total, memoryOff };
      if (this.live) {
        this.bump();
        if (arch === 'ttt') void this.refreshHeatmap();
      }
    };
    const result = await model.client.api.feed(text, { drift: arch === 'ttt', loss: true, memoryEvery: 16 }, proxy(onProgress));
    series.stopReason = result.stopReason;
    series.tokensPerSecond = result.tokensPerSecond;
    this.bump(true);
    return result;
  }

  /** ‖W̄ − W_init‖_F of every TTT head as the engine holds it now (read back matrix by matrix). */
  private async headNorms(model: LoadedModel): Promise<{ layer: number; head: number; norm: number }[]> {
    const out: { layer: number; head: number; norm: number }[] = [];
    const { mixers, nHeads } = model.info.config;
    for (let layer = 0; layer < mixers.length; layer++) {
      if (mixers[layer] !== 'ttt') continue;
      for (let head = 0; head < nHeads; head++) {
        const m = await model.client.api.tttMatrix(layer, head);
        let sum = 0;
        for (const v of m) sum += v * v;
        out.push({ layer, head, norm: Math.sqrt(sum) });
      }
    }
    return out;
  }

  /** Schedules one redraw on an animation frame, at most every REDRAW_INTERVAL_MS (many messages → one redraw). */
  private bump(now = false): void {
    if (now) {
      cancelAnimationFrame(this.frame);
      clearTimeout(this.timer);
      this.frame = 0;
      this.timer = undefined;
      this.lastDrawAt = performance.now();
      this.version++;
      return;
    }
    if (this.frame || this.timer !== undefined) return;
    const wait = Math.max(0, this.lastDrawAt + REDRAW_INTERVAL_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.lastDrawAt = performance.now();
        this.version++;
      });
    }, wait);
  }
}

/**
 * Loads a manifest model the way the chat does: from the cache under its manifest id when it is there, else from the
 * network, cached under that same id (one copy per model, whichever tab downloaded it first).
 */
async function loadOnce(client: EngineClient, m: ManifestModel): Promise<ModelInfo> {
  const fromNetwork: ModelSource = { kind: 'url', url: modelUrl(m), cacheKey: m.id };
  let cached = false;
  try { cached = (await client.api.cachedModel(m.id)).meta !== undefined; } catch { /* no IndexedDB: use the network */ }
  if (!cached) return client.api.load(fromNetwork);
  try {
    return await client.api.load({ kind: 'cache', cacheKey: m.id });
  } catch (e) {
    // A damaged entry is removed by the worker; anything else that a download cannot fix is the error to show.
    if (!['checksum-mismatch', 'missing-chunk', 'cache-miss', 'not-found'].includes(errorCode(e) ?? '')) throw e;
    return client.api.load(fromNetwork);
  }
}

function download(name: string, content: string, type: string): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
