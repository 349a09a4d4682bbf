// Seeded fuzzing of the reader: thousands of mutations of valid small files. Every case must either parse to
// a model that the writer accepts (so it is valid) or throw a BtttError; never another exception, never a hang.
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32';
import { BtttError } from './errors';
import type { BtttErrorCode } from './errors';
import { parseBttt, readBtttHeader, readBtttStream } from './reader';
import { assembleFile, smallConfig, smallFile, splitFile } from './testkit';
import { writeBttt } from './writer';
import { Rng } from '../util/rng';

const BASES: Uint8Array[] = [
  smallFile(smallConfig('ttt'), 1),
  smallFile(smallConfig('kv'), 2),
  smallFile(smallConfig('ttt', { mixers: ['ttt', 'ttt'], tieEmbeddings: false, ttt: { miniBatch: 4, baseLr: 1, convKernel: 0, shareQK: false, gate: false } }), 3, { embedDtype: 'f32' }),
];

const WEIRD: unknown[] = [null, true, false, 0, -1, 1, 1.5, -0.5, 3, 16, 64, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -1e308, '', 'x', 'f16', 't158', 'ttt', [], {}, [1], [0], [-1, 4], [2 ** 31, 2 ** 31], [16, 16, 16, 16, 16]];

type Json = Record<string, unknown>;

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** A plausible-but-wrong variant of a value, or something weird. */
function mutateValue(rng: Rng, v: unknown): unknown {
  if (rng.next() < 0.4) return pick(rng, WEIRD);
  if (typeof v === 'number') return pick(rng, [v + 1, v - 1, v * 2, -v, v + 64, v - 64, v * 1e9, v + 0.5]);
  if (Array.isArray(v)) {
    const copy = v.slice();
    const r = rng.int(4);
    if (r === 0) copy.pop();
    else if (r === 1) copy.push(pick(rng, copy.length ? copy : [1]));
    else if (r === 2 && copy.length) copy[rng.int(copy.length)] = mutateValue(rng, copy[rng.int(copy.length)]);
    else copy.reverse();
    return copy;
  }
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'string') return pick(rng, ['', v + 'x', v.toUpperCase(), 'attn', 'swa', 'kv', 'f32', 'bf16', 'lm_head', 'l9.ffn.w1']);
  return pick(rng, WEIRD);
}

/** Edits the header object in place (one of several structural edits). */
function mutateHeader(rng: Rng, h: Json): void {
  // An earlier edit may have replaced any of these with a non-object: then the edit falls on the header.
  const asObject = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : h);
  const tensors = Array.isArray(h['tensors']) && h['tensors'].length > 0 ? (h['tensors'] as unknown[]).map(asObject) : [h];
  const config = asObject(h['config']);
  const tokenizer = asObject(h['tokenizer']);
  const objectEdit = (obj: Json) => {
    const keys = Object.keys(obj);
    if (keys.length === 0) return;
    const key = pick(rng, keys);
    if (rng.next() < 0.2) delete obj[key];
    else obj[key] = mutateValue(rng, obj[key]);
  };
  switch (rng.int(10)) {
    case 0:
    case 1:
      objectEdit(config);
      break;
    case 2:
      objectEdit(asObject(config['ttt']));
      break;
    case 3:
    case 4:
    case 5:
      objectEdit(pick(rng, tensors));
      break;
    case 6: {
      const r = rng.int(4);
      const list = Array.isArray(h['tensors']) ? (h['tensors'] as unknown[]) : [];
      if (r === 0) list.splice(rng.int(list.length), 1);
      else if (r === 1) list.push({ ...pick(rng, tensors) });
      else if (r === 2) {
        const a = pick(rng, tensors);
        const b = pick(rng, tensors);
        [a['name'], b['name']] = [b['name'], a['name']];
      } else list.reverse();
      break;
    }
    case 7:
      objectEdit(tokenizer);
      break;
    case 8: {
      const merges = tokenizer['merges'];
      if (rng.next() < 0.5 && Array.isArray(merges)) merges.push([rng.int(300), rng.int(300)]);
      else tokenizer['specials'] = { ...(tokenizer['specials'] as Json), [`<s${rng.int(3)}>`]: mutateValue(rng, 258) };
      break;
    }
    default:
      objectEdit(h);
  }
}

interface Mutation {
  kind: string;
  bytes: Uint8Array;
}

// Header information of each base file, parsed once (the fuzz loop's time goes to the reader under test).
const BASE_PARTS = new Map(BASES.map((b) => [b, { info: readBtttHeader(b), headerText: JSON.stringify(splitFile(b).header), data: splitFile(b).data }]));

function mutate(rng: Rng, base: Uint8Array): Mutation {
  const parts = BASE_PARTS.get(base)!;
  const info = parts.info;
  const headerEnd = 16 + info.headerLength;
  const r = rng.int(9);
  if (r === 0) {
    const copy = base.slice();
    const flips = 1 + rng.int(4);
    for (let i = 0; i < flips; i++) {
      const at = rng.int(copy.length);
      copy[at] = copy[at]! ^ (1 << rng.int(8));
    }
    return { kind: 'bit flips', bytes: copy };
  }
  if (r === 1) {
    const copy = base.slice();
    // Preamble fields get special attention: magic, version, header length, CRC.
    const at = rng.next() < 0.3 ? rng.int(16) : rng.int(copy.length);
    copy[at] = pick(rng, [0, 0xff, 243, 0x7f, 0x80, rng.int(256)]);
    return { kind: 'byte overwrite', bytes: copy };
  }
  if (r === 2) {
    const boundaries = [0, 1, 3, 4, 8, 11, 12, 15, 16, headerEnd - 1, headerEnd, info.dataStart - 1, info.dataStart, base.length - 1];
    for (const t of info.tensors) boundaries.push(info.dataStart + t.offset, info.dataStart + t.offset + 4, info.dataStart + t.offset + t.length - 1);
    const cut = rng.next() < 0.7 ? pick(rng, boundaries) : rng.int(base.length);
    return { kind: 'truncation', bytes: base.slice(0, Math.max(0, cut)) };
  }
  if (r === 3) {
    const extra = Uint8Array.from({ length: 1 + rng.int(70) }, () => rng.int(256));
    return { kind: 'appended bytes', bytes: Uint8Array.from([...base, ...extra]) };
  }
  if (r === 4) {
    const copy = base.slice();
    new DataView(copy.buffer).setUint32(pick(rng, [4, 8, 12]), pick(rng, [0, 1, 2, 3, 2 ** 24, 2 ** 24 + 1, 2 ** 32 - 1, info.headerLength + 1, info.headerLength - 1, rng.int(2 ** 32)]), true);
    return { kind: 'preamble field', bytes: copy };
  }
  const header = JSON.parse(parts.headerText) as Json;
  const data = parts.data.slice();
  if (r === 5 || r === 6) {
    const edits = 1 + rng.int(2);
    for (let i = 0; i < edits; i++) mutateHeader(rng, header);
    return { kind: 'header edit (CRC kept valid)', bytes: assembleFile(JSON.stringify(header), data) };
  }
  if (r === 7) {
    const text = new TextEncoder().encode(JSON.stringify(header));
    const at = rng.int(text.length);
    const t = rng.int(3);
    const edited =
      t === 0 ? text.slice(0, at) : t === 1 ? Uint8Array.from([...text.subarray(0, at), rng.int(256), ...text.subarray(at)]) : Uint8Array.from([...text.subarray(0, at), ...text.subarray(at + 1)]);
    return { kind: 'header text edit (CRC kept valid)', bytes: assembleFile(edited, data) };
  }
  // Tensor data edits with the tensor's CRC recomputed, so that value checks (trits, scales, NaN) are reached.
  const entry = pick(rng, header['tensors'] as Json[]); // an unedited header: a real entry
  const start = entry['offset'] as number;
  const length = entry['length'] as number;
  const bytes = data.slice(start, start + length);
  const at = rng.int(length);
  bytes[at] = pick(rng, [0xff, 0x7f, 0x80, 0xfc, 0x7c, 243, 250, rng.int(256)]);
  if (rng.next() < 0.3 && length >= 4) new DataView(bytes.buffer).setFloat32(0, pick(rng, [NaN, Infinity, -1, -0, 0, 1e-30]), true);
  data.set(bytes, start);
  entry['crc32'] = crc32(bytes);
  return { kind: 'tensor data edit (CRC kept valid)', bytes: assembleFile(JSON.stringify(header), data) };
}

function outcome(bytes: Uint8Array): BtttErrorCode | 'ok' {
  try {
    const model = parseBttt(bytes);
    writeBttt(model); // the writer validates everything the reader promises
    return 'ok';
  } catch (e) {
    if (e instanceof BtttError) return e.code;
    throw e;
  }
}

describe('fuzzing the reader', () => {
  it('turns thousands of seeded mutations into a valid model or a BtttError, stream and buffer agreeing', async () => {
    const CASES = 6000; // ~5 s of CPU here; wall time stays well under 20 s on the shared 2-core machine
    const rng = new Rng(20261126);
    const codes = new Map<string, number>();
    const kinds = new Map<string, number>();
    const failures: string[] = [];
    const started = performance.now();
    let streamed = 0;
    for (let i = 0; i < CASES; i++) {
      const base = BASES[i % BASES.length]!;
      const m = mutate(rng, base);
      kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
      let code: string;
      try {
        code = outcome(m.bytes);
      } catch (e) {
        failures.push(`case ${i} (${m.kind}): ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        continue;
      }
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (i % 25 === 0) {
        // The stream reader must reach the same verdict.
        streamed++;
        const chunk = 1 + rng.int(600);
        async function* chunks() {
          for (let at = 0; at < m.bytes.length; at += chunk) yield m.bytes.slice(at, at + chunk);
        }
        let streamCode: string;
        try {
          const { model } = await readBtttStream(chunks());
          writeBttt(model);
          streamCode = 'ok';
        } catch (e) {
          streamCode = e instanceof BtttError ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
        }
        if (streamCode !== code) failures.push(`case ${i} (${m.kind}): parseBttt says ${code}, readBtttStream says ${streamCode}`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`fuzz: ${CASES} cases (${streamed} also streamed) in ${seconds.toFixed(1)} s`, Object.fromEntries(kinds), Object.fromEntries(codes));
    expect(failures.slice(0, 10)).toEqual([]);
    // The mutations reach deep into the validation, not only the checksums.
    for (const code of ['ok', 'BAD_MAGIC', 'TRUNCATED', 'TRAILING_DATA', 'HEADER_CHECKSUM', 'HEADER_JSON', 'HEADER_SCHEMA', 'BAD_SHAPE', 'OUT_OF_RANGE', 'TENSOR_CHECKSUM', 'BAD_TRIT', 'NON_FINITE']) {
      expect(codes.get(code) ?? 0, `no case ended in ${code}`).toBeGreaterThan(0);
    }
  });
});
