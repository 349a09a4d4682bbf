import { describe, expect, it } from 'vitest';
import type { FeedToken } from '../../engine/feed';
import { appendFeed, blockState, buildExport, decimate, emptyReading, exportJson, kvCacheBytes, learningSummary, memoryCsv, projectTotals, tokensCsv } from './series';

const head = (norm: number, w0Norm = 0) => ({ norm, cos: 1 - norm, lossBefore: 2, lossAfter: 1.5, w0Norm });
const token = (position: number, loss: number | null, norms?: number[]): FeedToken => ({
  position, id: 65 + position, text: position === 1 ? 'a,"b"' : 'x', loss, ms: 3,
  drift: norms ? [{ layer: 0, heads: norms.map((n) => head(n)) }] : undefined,
});
const bytes = (kv: number) => ({ weights: 1000, 'ttt-state': 0, 'kv-cache': kv, activations: 100, scratch: 10 });

describe('series', () => {
  it('appends tokens, drift per head and memory samples in order', () => {
    const r = emptyReading('tiny-ttt', 'ttt', 1);
    appendFeed(r, [token(0, null, [0.1, 0.2]), token(1, 2.5, [0.3, 0.4])], [{ tokens: 2, report: { bytes: bytes(0), total: 1110, buffers: 3, position: 2, kvCache: { allocated: 0, inUse: 0 } } }]);
    expect(r.positions).toEqual([0, 1]);
    expect(r.heads.map((h) => h.values.norm)).toEqual([[0.1, 0.3], [0.2, 0.4]]);
    expect(r.memory).toEqual([{ tokens: 2, bytes: bytes(0), total: 1110, kvInUse: 0 }]);
  });

  it('KV bytes follow 2 × attn-layers × T × d × 4 and projections keep the constant part', () => {
    const config = { mixers: ['attn', 'attn', 'swa'] as ('attn' | 'swa')[], dModel: 64 };
    expect(kvCacheBytes(config, 16)).toBe(2 * 2 * 16 * 64 * 4);
    const last = { tokens: 16, bytes: bytes(kvCacheBytes(config, 16)), total: 1110 + kvCacheBytes(config, 16), kvInUse: kvCacheBytes(config, 16) };
    expect(projectTotals(config, last, [8192])).toEqual([{ tokens: 8192, bytes: 1110 + kvCacheBytes(config, 8192), computed: true }]);
    const ttt = { mixers: ['ttt', 'swa'] as ('ttt' | 'swa')[], dModel: 64 };
    expect(projectTotals(ttt, { tokens: 16, bytes: bytes(4096), total: 5206, kvInUse: 4096 }, [131072])[0].bytes).toBe(5206);
    // With the attention conv (config.attn) each attn layer adds its constant histories, 3 × (K−1) × d × 4.
    const conv = { mixers: ['attn', 'attn'] as 'attn'[], dModel: 64, attn: { convKernel: 4, gate: true } };
    expect(kvCacheBytes(conv, 16)).toBe(2 * 2 * 16 * 64 * 4 + 2 * 3 * 3 * 64 * 4);
    const measured = { tokens: 16, bytes: bytes(kvCacheBytes(conv, 16)), total: 1110 + kvCacheBytes(conv, 16), kvInUse: kvCacheBytes(conv, 16) };
    expect(projectTotals(conv, measured, [64])[0].bytes - measured.total).toBe(2 * 2 * 48 * 64 * 4);
  });

  it('learning summary: mean loss of each pass and the drop', () => {
    const a = emptyReading('m', 'ttt', 1);
    appendFeed(a, [token(0, null), token(1, 4), token(2, 2)], []);
    const b = emptyReading('m', 'ttt', 2);
    appendFeed(b, [token(3, 2), token(4, 1)], []);
    expect(learningSummary([a, b])).toEqual([{ model: 'm', memory: 'on', firstMean: 3, secondMean: 1.5, drop: 0.5, dropNats: 1.5 }]);
    // The same model read with its memory off is summarised apart.
    const offFirst = { ...emptyReading('m', 'ttt', 1), memoryOff: true };
    appendFeed(offFirst, [token(0, null), token(1, 4)], []);
    const offSecond = { ...emptyReading('m', 'ttt', 2), memoryOff: true };
    appendFeed(offSecond, [token(2, 3)], []);
    expect(learningSummary([offFirst, offSecond, a, b])).toEqual([
      { model: 'm', memory: 'off', firstMean: 4, secondMean: 3, drop: 0.25, dropNats: 1 },
      { model: 'm', memory: 'on', firstMean: 3, secondMean: 1.5, drop: 0.5, dropNats: 1.5 },
    ]);
  });

  it('exports JSON without NaN and CSV with quoted text', () => {
    const r = emptyReading('m', 'ttt', 1);
    appendFeed(r, [token(0, null, [NaN]), token(1, 2, [0.5])], [{ tokens: 2, report: { bytes: bytes(0), total: 1110, buffers: 1, position: 2, kvCache: { allocated: 0, inUse: 0 } } }]);
    const json = JSON.parse(exportJson(buildExport([r], [], new Date(0))));
    expect(json.readings[0].heads[0].values.norm).toEqual([null, 0.5]);
    expect(json.exportedAt).toBe('1970-01-01T00:00:00.000Z');
    const lines = tokensCsv([r]).trim().split('\n');
    expect(lines[0]).toBe('model,arch,pass,position,id,text,loss,ms,l0h0_norm,l0h0_cos,l0h0_lossBefore,l0h0_lossAfter,l0h0_w0Norm');
    expect(lines[2]).toBe('m,ttt,1,1,66,"a,""b""",2,3,0.5,0.5,2,1.5,0');
    expect(memoryCsv([r]).trim().split('\n')[0]).toBe('model,arch,pass,tokens,weights,ttt-state,kv-cache,activations,scratch,kv-cache-in-use,total');
    expect(memoryCsv([r]).trim().split('\n')[1]).toBe('m,ttt,1,2,1000,0,0,100,10,0,1110');
  });

  it('decimation keeps the ends and at most max points', () => {
    expect(decimate(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const d = decimate(1000, 11);
    expect(d).toHaveLength(11);
    expect(d[0]).toBe(0);
    expect(d[10]).toBe(999);
  });
});

describe('blockState', () => {
  const bytes = (ttt: number, kv: number) => ({ weights: 100, 'ttt-state': ttt, 'kv-cache': kv, activations: 0, scratch: 0 });
  it('names the state of each mixer and gives what holds something of what is allocated', () => {
    expect(blockState({ mixer: 'ttt', bytes: bytes(4096, 0), stateInUse: 4096 })).toEqual({ kind: 'TTT state', inUse: 4096, allocated: 4096 });
    expect(blockState({ mixer: 'swa', bytes: bytes(0, 4096), stateInUse: 1024 })).toEqual({ kind: 'SWA ring', inUse: 1024, allocated: 4096 });
    expect(blockState({ mixer: 'attn', bytes: bytes(0, 8192), stateInUse: 6144 })).toEqual({ kind: 'KV cache', inUse: 6144, allocated: 8192 });
  });
});

