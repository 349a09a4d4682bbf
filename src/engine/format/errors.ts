// Typed errors of the .bttt reader and writer (docs/FORMAT.md, "What a reader rejects").
// The code is repeated at the start of the message because comlink forwards only name/message/stack of an
// Error across the worker boundary: the page can still show which rule a file broke.

export const BTTT_ERROR_CODES = [
  'BAD_MAGIC',
  'UNSUPPORTED_VERSION',
  'TRUNCATED',
  'TRAILING_DATA',
  'HEADER_TOO_LARGE',
  'HEADER_CHECKSUM',
  'HEADER_JSON',
  'HEADER_SCHEMA',
  'UNKNOWN_DTYPE',
  'BAD_SHAPE',
  'LENGTH_MISMATCH',
  'OUT_OF_RANGE',
  'DUPLICATE_TENSOR',
  'MISSING_TENSOR',
  'UNEXPECTED_TENSOR',
  'TENSOR_SHAPE',
  'TENSOR_CHECKSUM',
  'BAD_TRIT',
  'NON_FINITE',
] as const;

export type BtttErrorCode = (typeof BTTT_ERROR_CODES)[number];

export interface BtttErrorContext {
  /** The tensor concerned, when there is one. */
  tensor?: string;
  /** Absolute byte offset in the file where the problem was found, when known. */
  offset?: number;
}

export class BtttError extends Error {
  readonly code: BtttErrorCode;
  /** The message without the leading code. */
  readonly detail: string;
  readonly tensor?: string;
  readonly offset?: number;

  constructor(code: BtttErrorCode, detail: string, context: BtttErrorContext = {}) {
    super(`[${code}] ${detail}`);
    this.name = 'BtttError';
    this.code = code;
    this.detail = detail;
    if (context.tensor !== undefined) this.tensor = context.tensor;
    if (context.offset !== undefined) this.offset = context.offset;
  }
}

export function isBtttError(e: unknown): e is BtttError {
  return e instanceof BtttError;
}
