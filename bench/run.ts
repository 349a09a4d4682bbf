// `npm run bench [-- --quick] [--baseline REF]`: starts a Vite dev server, opens bench/bench.html in Debian's Chromium
// (WebGPU via SwiftShader here), runs the measurements in the page through the engine worker, and writes
// bench/results/latest.json and docs/BENCHMARKS.md (--quick: tiny models only, bench/results/quick.{json,md}).
// --baseline REF: also serves a detached git worktree of commit REF (a temporary one, removed at the end) from a
// second dev server, and measures table 1's rates of both engines alternately, in two pages of the same Chromium.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import playwrightConfig from '../playwright.config';
import { renderReport, type BaselineComparison, type ReportInput } from './report';
import type { BenchConfig, BenchModel, BenchPageResult, BenchSpeedPageResult, SpeedResult } from './types';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** TinyStories validation text (the trained models' held-out data); BENCH_CORPUS overrides. */
const CORPUS_PATH = process.env.BENCH_CORPUS ?? '/work/shared/data/tinystories/valid.txt';
const PROMPT = 'Once upon a time, there was a little girl named Lily. She loved to play in the park with her friends.';
const PAIRS = [['ttt-hybrid-d256', 'kv-d256'], ['tiny-ttt', 'tiny-kv']] as const;
/** The page's whole run; generous, since SwiftShader speed varies with the machine's load. */
const PAGE_TIMEOUT_MS = 30 * 60_000;

/** The kernel table's shapes beyond the shipped ones, [rows (out), cols (in)]: a 2–3 B-parameter BitNet's layers. */
const KERNEL_EXTRA_SHAPES: [number, number][] = [[2560, 2560], [6912, 2560], [2560, 6912]];

const model = (id: string) => ({ id, url: `/models/${id}.bttt` });

/** The models measured against --baseline REF: the trained d256 pair, or the tiny pair with --quick. */
const baselineModels = (quick: boolean): BenchModel[] => (quick ? [model('tiny-ttt'), model('tiny-kv')] : [model('ttt-hybrid-d256'), model('kv-d256')]);

/** Files of this tree copied into the baseline's worktree, so that the same measurement code drives both engines. */
const BENCH_PAGE_FILES = ['bench/page.ts', 'bench/types.ts', 'bench/bench.html'];

/** Why a baseline commit matters, shown in the report's heading (full hashes). */
const KNOWN_BASELINES: Record<string, string> = {
  a0acb9a2d9f6b6297d11a53550524d2d8bd35733: 'the commit issue 19 was filed at',
};

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function configFor(quick: boolean, corpus: string): BenchConfig {
  if (quick) {
    return {
      speedModels: [model('tiny-ttt'), model('tiny-kv')],
      // Short contexts keep the quick run short.
      contextModels: [model('tiny-ttt'), model('tiny-kv')],
      prompt: PROMPT, decodeTokens: 16, repetitions: 2, contextLengths: [32, 128], contextDecodeTokens: 16, corpus,
      kernelShapesModel: model('ttt-hybrid-d256'), kernelExtraShapes: KERNEL_EXTRA_SHAPES, kernelTargetMs: 30, kernelTrials: 1,
    };
  }
  return {
    speedModels: [model('ttt-hybrid-d256'), model('kv-d256'), model('tiny-ttt'), model('tiny-kv')],
    contextModels: [model('ttt-hybrid-d256'), model('kv-d256')],
    prompt: PROMPT, decodeTokens: 32, repetitions: 3, contextLengths: [64, 256, 1024, 2048], contextDecodeTokens: 16, corpus,
    kernelShapesModel: model('ttt-hybrid-d256'), kernelExtraShapes: KERNEL_EXTRA_SHAPES, kernelTargetMs: 200, kernelTrials: 3,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, 'localhost', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

async function readCorpus(): Promise<string> {
  try {
    // ~100 KB: several thousand tokens for the 4096-entry vocabulary, more than the longest context length.
    return (await readFile(CORPUS_PATH, 'utf8')).slice(0, 100_000);
  } catch (e) {
    throw new Error(`cannot read the bench corpus ${CORPUS_PATH} (set BENCH_CORPUS to a long plain-text file): ${(e as Error).message}`);
  }
}

const USAGE = 'usage: npm run bench [-- [--quick] [--baseline REF]]';

function parseArgs(args: string[]): { quick: boolean; baselineRef: string | null } {
  let quick = false;
  let baselineRef: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--baseline' || a.startsWith('--baseline=')) {
      const ref = a === '--baseline' ? args[++i] : a.slice('--baseline='.length);
      if (!ref || ref.startsWith('-')) throw new Error(`--baseline needs a commit (${USAGE})`);
      baselineRef = ref;
    } else throw new Error(`unknown option ${a} (${USAGE})`);
  }
  return { quick, baselineRef };
}

/** A detached worktree of the baseline commit in a temporary folder, ready to serve; remove() undoes it all. */
interface BaselineTree {
  ref: string;
  commit: string;
  root: string;
  /** Vite's dependency cache of the second server, apart from this tree's (node_modules is shared by a link). */
  cacheDir: string;
  remove(): void;
}

function makeBaselineTree(ref: string): BaselineTree {
  let commit: string;
  try {
    commit = git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  } catch {
    throw new Error(`--baseline ${ref}: not a commit of this repository`);
  }
  const temp = execFileSync('mktemp', ['-d', path.join(os.tmpdir(), 'bit-ttt-bench-baseline-XXXXXX')], { encoding: 'utf8' }).trim();
  const root = path.join(temp, 'tree');
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    // The link first, so that nothing that removes the worktree can reach this tree's node_modules through it.
    try { execFileSync('rm', ['-f', path.join(root, 'node_modules')]); } catch { /* not made */ }
    try {
      git('worktree', 'remove', '--force', root);
    } catch (e) {
      console.error(`removing the baseline worktree ${root}: ${(e as Error).message}; \`git worktree prune\` cleans up after deleting it`);
    }
    execFileSync('rm', ['-rf', temp]);
  };
  try {
    git('worktree', 'add', '--detach', root, commit);
  } catch (e) {
    remove();
    throw e;
  }
  return { ref, commit, root, cacheDir: path.join(temp, 'vite-cache'), remove };
}

async function prepareBaselineTree(tree: BaselineTree): Promise<void> {
  await symlink(path.join(ROOT, 'node_modules'), path.join(tree.root, 'node_modules'), 'dir');
  for (const file of BENCH_PAGE_FILES) await copyFile(path.join(ROOT, file), path.join(tree.root, file));
}

async function startServer(root: string, extra: { cacheDir?: string; allow?: string[] } = {}): Promise<{ server: ViteDevServer; port: number }> {
  const port = await freePort();
  const server = await createServer({
    root, logLevel: 'warn', ...(extra.cacheDir ? { cacheDir: extra.cacheDir } : {}),
    server: { port, strictPort: true, host: 'localhost', ...(extra.allow ? { fs: { allow: extra.allow } } : {}) },
  });
  await server.listen();
  return { server, port };
}

async function openBenchPage(browser: Browser, port: number, label: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && !msg.text().startsWith('[bench]')) return;
    // A failed fetch's message does not name the URL; its location does.
    const where = msg.type() === 'error' && msg.location().url ? ` (${msg.location().url})` : '';
    console.log(`${label ? `${label} ` : ''}${msg.text()}${where}`);
  });
  page.on('pageerror', (e) => console.error(`${label ? `${label} ` : ''}page error: ${e.message}`));
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  await page.goto(`http://localhost:${port}/bench/bench.html`);
  await page.waitForFunction(() => typeof window.bitTttBench?.speed === 'function', undefined, { timeout: 120_000 });
  return page;
}

/**
 * Table 1's rates of both engines, alternated call by call (baseline, now, now, baseline, …: each engine goes first
 * equally often), one measured run a call after the call's own warm-up, so that the machine's drift hits both alike.
 */
async function measureInterleaved(
  pages: { baseline: Page; now: Page }, models: BenchModel[], config: BenchConfig,
): Promise<{ order: ('baseline' | 'now')[]; baselineAdapter: string; models: { baseline: SpeedResult; current: SpeedResult }[] }> {
  const order: ('baseline' | 'now')[] = [];
  for (let rep = 0; rep < config.repetitions; rep++) order.push(...(rep % 2 === 0 ? ['baseline', 'now'] as const : ['now', 'baseline'] as const));
  let baselineAdapter = 'unknown';
  const results: { baseline: SpeedResult; current: SpeedResult }[] = [];
  for (const m of models) {
    const runs: Record<'baseline' | 'now', SpeedResult | null> = { baseline: null, now: null };
    for (const engine of order) {
      const one: BenchConfig = { ...config, speedModels: [m], repetitions: 1 };
      console.log(`[bench] ${m.id}: ${engine === 'now' ? 'now' : 'baseline'} engine`);
      const r: BenchSpeedPageResult = await pages[engine].evaluate((c) => window.bitTttBench!.speed(c), one);
      if (engine === 'baseline') baselineAdapter = r.adapter;
      const s = r.speed[0]!;
      const sofar = runs[engine];
      runs[engine] = sofar ? { model: sofar.model, runs: [...sofar.runs, ...s.runs] } : s;
    }
    results.push({ baseline: runs.baseline!, current: runs.now! });
  }
  return { order, baselineAdapter, models: results };
}

async function main(): Promise<void> {
  const { quick, baselineRef } = parseArgs(process.argv.slice(2));
  const config = configFor(quick, await readCorpus());
  const started = performance.now();
  const loadAverageStart = os.loadavg();

  let server: ViteDevServer | null = null;
  let baselineServer: ViteDevServer | null = null;
  let baselineTree: BaselineTree | null = null;
  let browser: Browser | null = null;
  // Ctrl-C or a kill skips `finally`: still remove the temporary worktree.
  const onSignal = (signal: NodeJS.Signals) => {
    baselineTree?.remove();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // What "now" is, taken before anything is served (a commit made during the run must not relabel it).
  const current = baselineRef ? { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' } : null;
  try {
    let baseline: BaselineComparison | undefined;
    if (baselineRef) {
      baselineTree = makeBaselineTree(baselineRef);
      await prepareBaselineTree(baselineTree);
      console.log(`[bench] baseline ${baselineTree.commit} in ${baselineTree.root}`);
    }
    const started0 = await startServer(ROOT);
    server = started0.server;
    const launchOptions = playwrightConfig.use?.launchOptions ?? {};
    browser = await chromium.launch({ ...launchOptions, executablePath: launchOptions.executablePath ?? '/usr/bin/chromium' });
    const page = await openBenchPage(browser, started0.port, baselineTree ? '[now]' : '');
    if (baselineTree) {
      const b = await startServer(baselineTree.root, { cacheDir: baselineTree.cacheDir, allow: [baselineTree.root, ROOT] });
      baselineServer = b.server;
      const baselinePage = await openBenchPage(browser, b.port, '[baseline]');
      const measured = await measureInterleaved({ baseline: baselinePage, now: page }, baselineModels(quick), config);
      if (!current) throw new Error('unreachable: a baseline without the current commit');
      await baselinePage.close();
      const commit = baselineTree.commit;
      baseline = {
        ref: baselineTree.ref, commit, date: git('log', '-1', '--format=%cI', commit), subject: git('log', '-1', '--format=%s', commit),
        ...(KNOWN_BASELINES[commit] ? { note: KNOWN_BASELINES[commit] } : {}),
        currentCommit: current.commit, currentDirty: current.dirty,
        repetitions: config.repetitions, ...measured,
      };
    }
    const result: BenchPageResult = await page.evaluate((c) => window.bitTttBench!.run(c), config);

    const wallSeconds = (performance.now() - started) / 1000;
    const command = ['npm run bench', ...(quick || baselineRef ? ['--'] : []), ...(quick ? ['--quick'] : []), ...(baselineRef ? ['--baseline', baselineRef] : [])].join(' ');
    const input: ReportInput = {
      date: new Date().toISOString(),
      command,
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        memoryBytes: os.totalmem(),
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        node: process.version,
        chromium: browser.version(),
        loadAverageStart,
        loadAverageEnd: os.loadavg(),
      },
      pairs: PAIRS,
      prompt: config.prompt,
      decodeTokens: config.decodeTokens,
      repetitions: config.repetitions,
      contextDecodeTokens: config.contextDecodeTokens,
      wallSeconds,
      rawPath: quick ? 'bench/results/quick.json' : 'bench/results/latest.json',
      page: result,
      ...(baseline ? { baseline } : {}),
    };
    const markdown = renderReport(input);
    const { corpus: _corpus, ...configWithoutCorpus } = config;
    const json = JSON.stringify({ ...input, config: { ...configWithoutCorpus, corpus: `${CORPUS_PATH} (first ${config.corpus.length} characters)` } }, null, 2);
    await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
    if (quick) {
      await writeFile(path.join(ROOT, 'bench/results/quick.json'), json);
      await writeFile(path.join(ROOT, 'bench/results/quick.md'), markdown);
      console.log(`wrote bench/results/quick.{json,md} in ${wallSeconds.toFixed(0)} s`);
    } else {
      await writeFile(path.join(ROOT, 'bench/results/latest.json'), json);
      await writeFile(path.join(ROOT, 'docs/BENCHMARKS.md'), markdown);
      console.log(`wrote bench/results/latest.json and docs/BENCHMARKS.md in ${wallSeconds.toFixed(0)} s`);
    }
  } finally {
    // Always: a stray Chromium or dev server would hold the team's 2 cores.
    await browser?.close().catch((e: unknown) => console.error(`closing Chromium: ${(e as Error).message}`));
    await server?.close().catch((e: unknown) => console.error(`closing Vite: ${(e as Error).message}`));
    await baselineServer?.close().catch((e: unknown) => console.error(`closing the baseline's Vite: ${(e as Error).message}`));
    baselineTree?.remove();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
