// The .bttt format: reader, writer, errors and statistics (docs/FORMAT.md).
export { BtttError, BTTT_ERROR_CODES, isBtttError } from './errors';
export type { BtttErrorCode } from './errors';
export { parseBttt, parseBtttWithHeader, readBtttHeader, readBtttStream } from './reader';
export type { BtttHeaderInfo, ReadStreamOptions } from './reader';
export { writeBttt } from './writer';
export type { WriteOptions } from './writer';
export { modelStats } from './stats';
export type { ModelStats } from './stats';
export type { BtttDtype, TensorEntry } from './layout';
