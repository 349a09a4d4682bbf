// npm run inspect -- FILE [--json]: a .bttt file's architecture, sizes and config.
import { modelStats } from '../engine/format/stats';
import { parseCliArgs, readModelFile, usageError } from './common';

const USAGE = 'usage: npm run inspect -- FILE.bttt [--json]';

const { values, positionals } = parseCliArgs({ json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, USAGE);
if (positionals.length !== 1) usageError(positionals.length === 0 ? 'no model file given' : 'give exactly one model file', USAGE);
const path = positionals[0]!;
const { model, header } = readModelFile(path);
const stats = modelStats(model, header.tensors);
const report = {
  arch: model.config.arch,
  params: stats.params,
  ternaryParams: stats.ternaryParams,
  fileBytes: model.fileBytes,
  bitsPerTernaryWeight: stats.bitsPerTernaryWeight,
  config: model.config,
};

if (values.json) {
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
} else {
  const c = model.config;
  const name = typeof model.metadata['name'] === 'string' ? model.metadata['name'] : '(unnamed)';
  const rows: [string, string][] = [
    ['file', path],
    ['name', name],
    ['arch', c.arch],
    ['params', stats.params.toLocaleString('en-US')],
    ['ternary params', stats.ternaryParams.toLocaleString('en-US')],
    ['file bytes', model.fileBytes.toLocaleString('en-US')],
    ['bits / ternary weight', stats.bitsPerTernaryWeight.toFixed(3)],
    ['layers', `${c.nLayers}: ${c.mixers.join(', ')}`],
    ['dModel / heads / ffn', `${c.dModel} / ${c.nHeads} / ${c.ffnHidden}`],
    ['vocab', `${c.vocabSize} (${model.tokenizer.merges.length} merges, ${Object.keys(model.tokenizer.specials).length} specials)`],
    ['context / max', `${c.contextLength} / ${c.maxContext}` + (c.mixers.includes('swa') ? `, window ${c.window}` : '')],
    ['tie embeddings', String(c.tieEmbeddings)],
    ['normEps / ropeTheta', `${c.normEps} / ${c.ropeTheta}`],
    ['ttt', JSON.stringify(c.ttt)],
    ...(c.attn ? [['attn (attn/swa layers)', JSON.stringify(c.attn)] as [string, string]] : []),
    ['tensors', `${header.tensors.length}, data from byte ${header.dataStart}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
}
