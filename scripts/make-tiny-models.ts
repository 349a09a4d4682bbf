// Writes the tiny random-weight test models to public/models/ (deterministic: same bytes on every run).
// Usage: npm run make-tiny-models
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBttt } from '../src/engine/format/reader';
import { modelStats } from '../src/engine/format/stats';
import { tinyModelFiles } from '../src/engine/format/tiny';

const outDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'models');
mkdirSync(outDir, { recursive: true });
for (const { file, bytes } of tinyModelFiles()) {
  const stats = modelStats(parseBttt(bytes)); // also proves the file reads back
  const path = join(outDir, file);
  writeFileSync(path, bytes);
  console.log(`${path}: ${bytes.length} bytes, ${stats.params} params (${stats.ternaryParams} ternary, ${stats.bitsPerTernaryWeight.toFixed(3)} bits each)`);
}
