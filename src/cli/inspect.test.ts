// npm run inspect, run as a process: JSON output matches the library's statistics; bad input gives one line
// on stderr naming the error code and exit 1; usage errors exit 2.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseBttt, readBtttHeader } from '../engine/format/reader';
import { modelStats } from '../engine/format/stats';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tinyTtt = join(root, 'public/models/tiny-ttt.bttt');

function inspect(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/inspect.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run inspect', () => {
  it('prints the statistics and config as JSON', () => {
    const r = inspect(tinyTtt, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bytes = new Uint8Array(readFileSync(tinyTtt));
    const model = parseBttt(bytes);
    const stats = modelStats(model, readBtttHeader(bytes).tensors);
    expect(JSON.parse(r.stdout)).toEqual({
      arch: 'ttt',
      params: stats.params,
      ternaryParams: stats.ternaryParams,
      fileBytes: bytes.length,
      bitsPerTernaryWeight: stats.bitsPerTernaryWeight,
      config: model.config,
    });
  });

  it('prints a readable table without --json', () => {
    const r = inspect(tinyTtt);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^arch\s+ttt$/m);
    expect(r.stdout).toMatch(/^bits \/ ternary weight\s+1\.60\d$/m);
  });

  it('reports a corrupt file in one line with its code, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bttt-inspect-'));
    const bad = join(dir, 'bad.bttt');
    const bytes = new Uint8Array(readFileSync(tinyTtt));
    writeFileSync(bad, bytes.subarray(0, bytes.length - 10));
    const r = inspect(bad);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/TRUNCATED/);
    const missing = inspect(join(dir, 'nope.bttt'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT/);
  });

  it('exits 2 on usage errors', () => {
    expect(inspect().code).toBe(2);
    expect(inspect(tinyTtt, '--bogus').code).toBe(2);
    expect(inspect(tinyTtt, tinyTtt).code).toBe(2);
  });
});
