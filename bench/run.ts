// `npm run bench [-- --quick]`: starts a Vite dev server, opens bench/bench.html in Debian's Chromium (WebGPU via
// SwiftShader here), runs the measurements in the page through the engine worker, and writes
// bench/results/latest.json and docs/BENCHMARKS.md (--quick: tiny models only, bench/results/quick.{json,md}).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import playwrightConfig from '../playwright.config';
import { renderReport, type ReportInput } from './report';
import type { BenchConfig, BenchPageResult } from './types';

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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--quick');
  if (unknown.length > 0) throw new Error(`unknown option(s): ${unknown.join(' ')} (usage: npm run bench [-- --quick])`);
  const quick = args.includes('--quick');
  const config = configFor(quick, await readCorpus());
  const started = performance.now();
  const loadAverageStart = os.loadavg();

  let server: ViteDevServer | null = null;
  let browser: Browser | null = null;
  try {
    const port = await freePort();
    server = await createServer({ root: ROOT, logLevel: 'warn', server: { port, strictPort: true, host: 'localhost' } });
    await server.listen();
    const launchOptions = playwrightConfig.use?.launchOptions ?? {};
    browser = await chromium.launch({ ...launchOptions, executablePath: launchOptions.executablePath ?? '/usr/bin/chromium' });
    const page = await browser.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.text().startsWith('[bench]')) console.log(msg.text());
    });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    await page.goto(`http://localhost:${port}/bench/bench.html`);
    await page.waitForFunction(() => window.bitTttBench !== undefined, undefined, { timeout: 120_000 });
    const result: BenchPageResult = await page.evaluate((c) => window.bitTttBench!.run(c), config);

    const wallSeconds = (performance.now() - started) / 1000;
    const command = quick ? 'npm run bench -- --quick' : 'npm run bench';
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
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
