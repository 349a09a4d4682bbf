// The pictures and numbers of docs/VIEWS.md ("The comparison on the shipped models"): the shipped TTT hybrid and KV
// baseline read the built-in text twice (the TTT model also with its memory off), then play recall item 1; the
// page is photographed on both tabs at 1280×860 and 390×844, and what the page measured is written into
// docs/VIEWS.md between its markers. Slow on SwiftShader (≈ 10 minutes), so only with VIEWS_DOCS=1:
// scripts/views-docs.sh runs it.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { test, expect, type Page } from '@playwright/test';
import type { ViewsExport } from '../../src/app/lib/series';
import { bitsPerByte } from '../../src/app/lib/compare';

const SIZES = [{ width: 1280, height: 860 }, { width: 390, height: 844 }];
const TTT = 'ttt-hybrid-d256';
const KV = 'kv-d256';
const START = '<!-- views-docs:start (scripts/views-docs.sh writes this part) -->';
const END = '<!-- views-docs:end -->';

async function region(page: Page, testid: string, path: string, width: number): Promise<void> {
  // A tall viewport, so that the whole panel is laid out and painted (the tab scrolls in its own container).
  await page.setViewportSize({ width, height: 4000 });
  await page.getByTestId(testid).screenshot({ path });
}

test('shipped models: the comparison, the recall item, the screenshots and the numbers of docs/VIEWS.md', async ({ page }) => {
  test.skip(!process.env.VIEWS_DOCS, 'set VIEWS_DOCS=1 (scripts/views-docs.sh) to regenerate docs/VIEWS.md’s numbers and screenshots');
  test.setTimeout(1_800_000);
  await mkdir('docs/screenshots', { recursive: true });
  await page.setViewportSize(SIZES[0]);
  await page.goto(`/?model=${TTT}`);
  await expect(page.getByTestId('model-status')).toHaveText('ready', { timeout: 300_000 });
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `docs/screenshots/chat-${size.width}.png` });
  }
  await page.setViewportSize(SIZES[0]);
  await page.getByTestId('tab-inside').click();
  await page.getByTestId('views-model-ttt').selectOption(TTT);
  await page.getByTestId('views-model-kv').selectOption(KV);
  for (const id of ['views-use-ttt', 'views-use-kv', 'views-twice', 'views-memory-off']) await page.getByTestId(id).setChecked(true);
  await page.getByTestId('views-live').setChecked(false);
  const started = Date.now();
  await page.getByTestId('views-read').click();
  await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', /^(done|error)$/, { timeout: 1_200_000 });
  await expect(page.getByTestId('views-error')).toHaveCount(0);
  const readMinutes = (Date.now() - started) / 60_000;
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
  const data = JSON.parse(await readFile(await download.path(), 'utf8')) as ViewsExport;

  await page.getByTestId('recall-item').selectOption('0');
  await page.getByTestId('recall-play').click();
  await expect(page.getByTestId('recall-status')).toHaveAttribute('data-status', /^(done|error)$/, { timeout: 600_000 });
  await expect(page.getByTestId('views-error')).toHaveCount(0);

  const texts = async (sel: string) => (await page.locator(sel).allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
  const compare = await texts('[data-testid="compare-sentences"] li');
  const learning = await texts('[data-testid="learning-summary"] li');
  const recallRows = await page.getByTestId('recall-row').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').replace(/\s+/g, ' ').trim())));
  const recallHead = await page.locator('[data-testid="recall-table"] thead th').allTextContents();
  const recallScore = (await page.getByTestId('recall-score').textContent())?.trim() ?? '';
  const recallSentence = (await page.getByTestId('recall-sentence').textContent())?.trim() ?? '';

  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.getByTestId('views-read').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `docs/screenshots/inside-${size.width}.png` });
    await region(page, 'compare-view', `docs/screenshots/compare-${size.width}.png`, size.width);
    await region(page, 'recall-view', `docs/screenshots/recall-${size.width}.png`, size.width);
    await page.setViewportSize(size);
  }

  const rows = data.readings.map((r) => {
    const mean = r.meanLoss;
    const bpb = bitsPerByte(r);
    return `| ${r.model}${r.memoryOff ? ' (memory off)' : ''} | ${r.pass} | ${r.positions.length} | ${mean?.toFixed(3) ?? '–'} | ${bpb?.toFixed(3) ?? '–'} | ${r.tokensPerSecond?.toFixed(1) ?? '–'} |`;
  });
  const day = new Date().toISOString().slice(0, 10);
  const block = [
    START,
    `Measured by \`scripts/views-docs.sh\` on ${day} (Chromium + SwiftShader, CPU only; the built-in text read twice by ${TTT} with its memory off and on and by ${KV}, ${readMinutes.toFixed(1)} minutes; then recall item 1). The sentences are the page's own, copied from it.`,
    '',
    '| model | reading | tokens | mean loss, nats/token | bits/byte | tokens/s |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    '**Where each memory helps** (the page’s sentences):',
    ...compare.map((t) => `- ${t}`),
    '',
    '**Learning as it reads** (the page’s sentences):',
    ...learning.map((t) => `- ${t}`),
    '',
    `**Recall, item 1** — ${recallScore}. ${recallSentence}`,
    '',
    `| ${recallHead.join(' | ')} |`,
    `|${recallHead.map(() => '---').join('|')}|`,
    ...recallRows.map((r) => `| ${r.join(' | ')} |`),
    '',
    '| | 1280 × 860 | 390 × 844 |',
    '|---|---|---|',
    ...['chat', 'inside', 'compare', 'recall'].map((n) => `| ${n} | ![${n} at 1280](screenshots/${n}-1280.png) | ![${n} at 390](screenshots/${n}-390.png) |`),
    END,
  ].join('\n');
  const doc = await readFile('docs/VIEWS.md', 'utf8');
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  expect(a >= 0 && b > a, 'docs/VIEWS.md has the views-docs markers').toBe(true);
  await writeFile('docs/VIEWS.md', doc.slice(0, a) + block + doc.slice(b + END.length));
  console.log(block);
});
