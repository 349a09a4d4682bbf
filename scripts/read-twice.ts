// Does a model do better on a text the second time it reads it? Per model, the mean loss (nats/token) of the
// first and the second reading of real stories, on the CPU reference, with an end-of-text or a newline between.
//   npx tsx scripts/read-twice.ts [VALID_TXT] [MODEL.bttt …]
import { readFileSync } from 'node:fs';
import { parseBttt } from '../src/engine/format/reader';
import { ReferenceModel } from '../src/engine/reference/model';
import { Tokenizer } from '../src/engine/tokenizer/tokenizer';

const [dataPath = '../shared/data/tinystories/valid.txt', ...modelArgs] = process.argv.slice(2);
const models = modelArgs.length > 0 ? modelArgs : ['public/models/ttt-hybrid-d256.bttt', 'public/models/kv-d256.bttt'];
const stories = readFileSync(dataPath, 'utf8').split('<|endoftext|>').map((s) => s.trim())
  .filter((s) => s.length > 300 && s.length < 700).slice(0, 4);

function nll(logits: Float32Array, id: number): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let z = 0;
  for (const v of logits) z += Math.exp(v - max);
  return max + Math.log(z) - logits[id];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

for (const path of models) {
  const file = parseBttt(new Uint8Array(readFileSync(path)));
  const tokenizer = Tokenizer.fromSpec(file.tokenizer);
  const model = new ReferenceModel(file);
  for (const separator of ['end-of-text', 'newline'] as const) {
    const first: number[] = [];
    const second: number[] = [];
    for (const story of stories) {
      model.reset();
      const ids = tokenizer.encode(story);
      const sep = separator === 'end-of-text' ? tokenizer.eotId : tokenizer.encode('\n')[0];
      const stream = [tokenizer.eotId, ...ids, sep, ...ids];
      const losses: number[] = [];
      let logits = model.step(stream[0]);
      for (let i = 1; i < stream.length; i++) {
        losses.push(nll(logits, stream[i]));
        logits = model.step(stream[i]);
      }
      first.push(mean(losses.slice(0, ids.length)));
      second.push(mean(losses.slice(ids.length + 1)));
    }
    console.log(`${path} (${separator} between): first reading ${mean(first).toFixed(3)}, second ${mean(second).toFixed(3)} nats/token over ${stories.length} stories`);
  }
}
