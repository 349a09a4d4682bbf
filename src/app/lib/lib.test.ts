import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SAMPLING } from '../../engine/types';
import { ModelFileError, precheckModelFile } from './bttt';
import { ManifestError, parseManifest } from './manifest';
import { sanitizeSampling } from './sampling';
import { formatBytes, formatSpeed } from './format';
import { isNetworkFailure } from './offline';

describe('models manifest', () => {
  it('the shipped manifest parses and its sizes match the files in public/models', () => {
    const models = parseManifest(JSON.parse(readFileSync('public/models/manifest.json', 'utf8')));
    expect(models.length).toBeGreaterThan(0);
    for (const m of models) expect(statSync(`public/models/${m.file}`).size, m.file).toBe(m.bytes);
  });

  it('rejects malformed entries with the field that is wrong', () => {
    expect(() => parseManifest({})).toThrow(ManifestError);
    const good = { id: 'a', name: 'A', file: 'a.bttt', bytes: 1, arch: 'ttt', description: 'd' };
    expect(() => parseManifest({ models: [{ ...good, arch: 'rnn' }] })).toThrow(/models\[0\]\.arch/);
    expect(() => parseManifest({ models: [{ ...good, bytes: -1 }] })).toThrow(/bytes/);
    expect(() => parseManifest({ models: [{ ...good, file: '' }] })).toThrow(/file/);
  });
});

describe('precheckModelFile', () => {
  const header = (magic: string, version: number) => {
    const b = new Uint8Array(32);
    b.set(new TextEncoder().encode(magic));
    new DataView(b.buffer).setUint32(4, version, true);
    return b.buffer;
  };
  it('accepts the real tiny model', () => {
    const bytes = readFileSync('public/models/tiny-ttt.bttt');
    expect(() => precheckModelFile('tiny-ttt.bttt', bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))).not.toThrow();
  });
  it('names the problem: too short, wrong signature, unsupported version', () => {
    expect(() => precheckModelFile('x.bttt', new ArrayBuffer(3))).toThrow(/only 3 bytes/);
    expect(() => precheckModelFile('x.bttt', header('GGUF', 1))).toThrow(ModelFileError);
    expect(() => precheckModelFile('x.bttt', header('GGUF', 1))).toThrow(/signature/);
    expect(() => precheckModelFile('x.bttt', header('BTTT', 7))).toThrow(/version 7/);
  });
});

describe('sanitizeSampling', () => {
  it('keeps valid stored values and replaces invalid ones by the defaults', () => {
    expect(sanitizeSampling(null)).toEqual(DEFAULT_SAMPLING);
    const s = sanitizeSampling({ temperature: 0, topK: 12.5, topP: 0.9, repetitionPenalty: 5, maxTokens: 64, seed: 'x' });
    expect(s.temperature).toBe(0);
    expect(s.topK).toBe(DEFAULT_SAMPLING.topK);
    expect(s.topP).toBe(0.9);
    expect(s.repetitionPenalty).toBe(DEFAULT_SAMPLING.repetitionPenalty);
    expect(s.maxTokens).toBe(64);
    expect(s.seed).toBe(DEFAULT_SAMPLING.seed);
  });
});

describe('format', () => {
  it('formats sizes and speeds', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(92894)).toBe('91 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(formatSpeed(0)).toBe('–');
    expect(formatSpeed(12.345)).toBe('12.3');
  });
});

describe('network failures (the offline page)', () => {
  it('recognises a fetch that got no response, in the words of each browser and of the worker', () => {
    for (const m of ['could not download /models/tiny-kv.bttt: Failed to fetch', 'NetworkError when attempting to fetch resource.', 'Load failed', 'net::ERR_INTERNET_DISCONNECTED']) {
      expect(isNetworkFailure(m, true), m).toBe(true);
    }
  });
  it('does not mistake a server answer or a bad file for the network', () => {
    expect(isNetworkFailure('could not download /models/x.bttt: HTTP 404', true)).toBe(false);
    expect(isNetworkFailure('could not download /models/x.bttt: HTTP 404', false)).toBe(false);
    expect(isNetworkFailure('HEADER_CHECKSUM: header checksum mismatch', false)).toBe(false);
    expect(isNetworkFailure(null, false)).toBe(false);
  });
  it('offline, any download failure without a status is the network', () => {
    expect(isNetworkFailure('could not download /models/x.bttt: the stream was cut', false)).toBe(true);
    expect(isNetworkFailure('could not download /models/x.bttt: the stream was cut', true)).toBe(false);
  });
});
