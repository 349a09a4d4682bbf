// A quick check of a user's file before it is sent to the worker, so obvious mistakes (a wrong file, an empty
// one) get an immediate, precise message. The worker's format reader does the full validation.
const MAGIC = [0x42, 0x54, 0x54, 0x54]; // "BTTT"
const PREAMBLE_BYTES = 16;
const SUPPORTED_VERSION = 1;

export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
}

export function precheckModelFile(name: string, bytes: ArrayBuffer): void {
  if (bytes.byteLength < PREAMBLE_BYTES) {
    throw new ModelFileError(`"${name}" is not a .bttt model: it is only ${bytes.byteLength} bytes long.`);
  }
  const head = new Uint8Array(bytes, 0, PREAMBLE_BYTES);
  if (!MAGIC.every((b, i) => head[i] === b)) {
    throw new ModelFileError(`"${name}" is not a .bttt model: it does not start with the "BTTT" signature.`);
  }
  const version = new DataView(bytes).getUint32(4, true);
  if (version !== SUPPORTED_VERSION) {
    throw new ModelFileError(`"${name}" is a .bttt file of format version ${version}; this playground reads version ${SUPPORTED_VERSION}.`);
  }
}
