// The browser (WebGPU in the worker) and the CLI (CPU reference) must produce the same greedy tokens.
import { execFileSync } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { sendAndWait, setNumber, setSlider, waitReady } from './helpers';

const PROMPT = 'Once upon a time';
const TOKENS = 16;

test(`temperature 0: the first ${TOKENS} tokens equal npm run generate`, async ({ page }) => {
  const cliOut = execFileSync('npm', ['run', '--silent', 'generate', '--', '--model', 'public/models/tiny-ttt.bttt',
    '--prompt', PROMPT, '--temperature', '0', '--max-tokens', String(TOKENS), '--json'], { encoding: 'utf8', timeout: 120_000 });
  const cli = JSON.parse(cliOut.slice(cliOut.indexOf('{'))) as { text: string; tokens: number[] };
  expect(cli.tokens.length).toBeGreaterThan(0);

  await page.goto('/?model=tiny-ttt');
  await waitReady(page);
  await setSlider(page, 'setting-temperature', 0);
  await setNumber(page, 'setting-maxTokens', TOKENS);
  await sendAndWait(page, PROMPT);
  const ids = (await page.getByTestId('assistant-message').last().getAttribute('data-token-ids')) ?? '';
  const browserTokens = ids.split(',').filter(Boolean).map(Number);
  expect(browserTokens).toEqual(cli.tokens.slice(0, TOKENS));
  // The whole text as generated (the page shows a sentence-closing first punctuation with the prompt instead).
  await expect(page.getByTestId('assistant-message').last()).toHaveAttribute('data-text', cli.text);
});
