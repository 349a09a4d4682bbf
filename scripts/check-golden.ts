// Does the CPU reference reproduce a golden file that train/export.py wrote? Used by train/smoke.sh to prove,
// on every CI run, that a freshly trained and exported model means the same thing in Python and TypeScript.
//   npx tsx scripts/check-golden.ts GOLDEN.json MODEL.bttt
import { readFileSync } from 'node:fs';
import { parseBttt } from '../src/engine/format/reader';
import { compareLogits } from '../src/engine/reference/compare';
import { ReferenceModel } from '../src/engine/reference/model';

const RELATIVE_TOLERANCE = 1e-5;
const [goldenPath, modelPath] = process.argv.slice(2);
if (!goldenPath || !modelPath) {
  console.error('usage: npx tsx scripts/check-golden.ts GOLDEN.json MODEL.bttt');
  process.exit(2);
}
const golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as { cases: { tokens: number[]; logits: string }[] };
const model = new ReferenceModel(parseBttt(new Uint8Array(readFileSync(modelPath))));
const vocab = model.config.vocabSize;
// Python sums in f32 and the reference in f64, so an int8 activation lying within rounding of a .5 tie can
// quantise one step apart; from then on the logits differ by ~1e-3 of their range. Such a case must look like a
// tie flip (exact first position, a sudden jump, small afterwards), never like a slow drift or a wrong model.
const FLIP_JUMP = 1e-4;
const FLIP_MAX = 1e-2;
let failures = 0;
let argmaxMisses = 0;
for (const [index, c] of golden.cases.entries()) {
  const buf = Buffer.from(c.logits, 'base64');
  const expected = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  model.reset();
  const relative = c.tokens.map((token, t) => {
    const r = compareLogits(model.step(token), expected.subarray(t * vocab, (t + 1) * vocab));
    if (!r.argmaxEqual) argmaxMisses++;
    return r.relative;
  });
  const firstOver = relative.findIndex((v) => v > RELATIVE_TOLERANCE);
  const ok = firstOver < 0 || (firstOver >= 1 && relative[firstOver] > FLIP_JUMP && Math.max(...relative) <= FLIP_MAX);
  console.log(`case ${index}: relative logit difference by position ${relative.map((v) => v.toExponential(1)).join(' ')}${ok ? '' : '  <- not a tie flip'}`);
  if (!ok) failures++;
}
if (golden.cases.length === 0 || failures > 0 || argmaxMisses > 0) {
  console.error(`golden check failed: ${failures} case(s) beyond ${RELATIVE_TOLERANCE} of the logit range that are not a tie flip, ${argmaxMisses} greedy pick(s) different`);
  process.exit(1);
}
console.log(`golden: ${golden.cases.length} cases reproduced`);
