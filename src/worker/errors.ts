// comlink sends a thrown Error to the page as { message, name, stack } and rebuilds it with Object.assign, so any
// other field is lost on the way. The page decides what to offer from an EngineError's `code` (e.g. 'memory-tight':
// ask before dropping the loaded model), so the worker adds the code to what it sends.
import { transferHandlers } from 'comlink';

/** Call once in the worker, before expose(). */
export function sendErrorCodes(): void {
  const base = transferHandlers.get('throw');
  if (!base) throw new Error('comlink has no "throw" transfer handler');
  transferHandlers.set('throw', {
    canHandle: base.canHandle,
    serialize(thrown) {
      const [wire, transferables] = base.serialize(thrown);
      const value = (thrown as { value?: unknown }).value;
      const code = value instanceof Error ? (value as { code?: unknown }).code : undefined;
      const errorWire = wire as { isError?: boolean; value?: Record<string, unknown> };
      if (typeof code === 'string' && errorWire.isError && errorWire.value) errorWire.value.code = code;
      return [wire, transferables];
    },
    deserialize: base.deserialize,
  });
}

/** The `code` of an error from the worker, if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
