// Helpers shared by the command-line tools (npm run inspect / generate / eval …): argument parsing with a
// usage error (exit 2), and reading a .bttt file with one clear line on stderr and exit 1 when it is bad.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { ModelFile } from '../engine/types';
import { BtttError } from '../engine/format/errors';
import { parseBtttWithHeader } from '../engine/format/reader';
import type { BtttHeaderInfo } from '../engine/format/reader';

export const EXIT_BAD_INPUT = 1;
export const EXIT_USAGE = 2;

/** Prints `error: message` (and the usage) on stderr and exits with EXIT_USAGE. */
export function usageError(message: string, usage: string): never {
  process.stderr.write(`error: ${message}\n${usage}\n`);
  process.exit(EXIT_USAGE);
}

/** Prints one line on stderr and exits with `code` (EXIT_BAD_INPUT by default). */
export function fail(message: string, code = EXIT_BAD_INPUT): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

/**
 * node:util parseArgs over process.argv, turning its errors (unknown option, missing value) into a usage
 * error. `--help`/`-h` prints the usage and exits 0 when `options` declares `help`.
 */
export function parseCliArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  options: T,
  usage: string,
  args: string[] = process.argv.slice(2),
): { values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; args: string[] }>>['values']; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ options, allowPositionals: true, args, strict: true });
    if ((values as Record<string, unknown>)['help'] === true) {
      process.stdout.write(usage + '\n');
      process.exit(0);
    }
    return { values, positionals };
  } catch (e) {
    usageError(e instanceof Error ? e.message : String(e), usage);
  }
}

/** Reads and parses a .bttt file; a missing file or a BtttError ends the process with one line and exit 1. */
export function readModelFile(path: string): { model: ModelFile; header: BtttHeaderInfo; bytes: Uint8Array } {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(`cannot read ${path}: ${code ?? (e instanceof Error ? e.message : String(e))}`);
  }
  try {
    const { model, header } = parseBtttWithHeader(bytes);
    return { model, header, bytes };
  } catch (e) {
    if (e instanceof BtttError) fail(`${path}: ${e.code}: ${e.detail}`);
    throw e;
  }
}
