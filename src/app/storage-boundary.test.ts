// The worker is the only code that reads or writes IndexedDB (docs/ARCHITECTURE.md, "Who owns the storage"): two
// contexts writing one store is how tabs and pages raced each other before. This keeps it so without a linter.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const srcDir = join(root, 'src');
const storageDir = join(srcDir, 'storage');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|svelte|js)$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function specifiers(code: string): string[] {
  const found: string[] = [];
  const patterns = [/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]);
  return found;
}

const reachesStorage = (file: string, spec: string) =>
  spec.startsWith('.') && resolve(dirname(file), spec).startsWith(storageDir);

describe('storage boundary', () => {
  it('finds imports in the forms the app uses (a check of the check)', () => {
    expect(specifiers(`import { a, type B } from '../../storage/modelCache';`)).toEqual(['../../storage/modelCache']);
    expect(specifiers(`import type {\n  X,\n} from "../storage/x";\nexport * from './y';`)).toEqual(['../storage/x', './y']);
    expect(specifiers(`const m = await import('idb-keyval');`)).toEqual(['idb-keyval']);
  });

  it('nothing under src/app imports src/storage or idb-keyval, or opens indexedDB', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(join(srcDir, 'app'))) {
      const code = readFileSync(file, 'utf8');
      for (const spec of specifiers(code)) {
        if (reachesStorage(file, spec) || spec === 'idb-keyval') offenders.push(`${relative(root, file)} imports ${spec}`);
      }
      if (/\bindexedDB\b/.test(code)) offenders.push(`${relative(root, file)} uses indexedDB`);
    }
    expect(offenders).toEqual([]);
  });

  it('outside src/storage, only the worker imports it (the API file only its types)', () => {
    const importers = sourceFiles(srcDir)
      .filter((f) => !f.startsWith(storageDir))
      .filter((f) => specifiers(readFileSync(f, 'utf8')).some((s) => reachesStorage(f, s) || s === 'idb-keyval'))
      .map((f) => relative(root, f))
      .sort();
    expect(importers.filter((f) => !f.startsWith('src/worker/'))).toEqual([]);
    const api = readFileSync(join(srcDir, 'worker/api.ts'), 'utf8');
    for (const line of api.split('\n').filter((l) => l.includes('storage/'))) expect(line).toMatch(/^(import|export) type /);
  });
});
