// The associative-recall probe of docs/DIAGNOSTICS.md: a list of facts ("The cat's name is Mia."), filler
// sentences longer than the sliding-window attention, then the questions ("The cat's name is") with their
// answers. Deterministic for a seed and a tokenizer; written to probes/recall-v1.json by
// scripts/make-recall-probe.ts. Each item has a control twin whose facts name OTHER names, so a model that
// only guesses likely names scores what it scores on the control.
import type { Tokenizer } from '../tokenizer/tokenizer';

export interface RecallQuery {
  /** ids[answerStart..answerEnd) are the answer's tokens (the name, without the period). */
  answerStart: number;
  answerEnd: number;
  /** Tokens between the fact's answer and this question's answer (answerStart − the fact's answerStart). */
  distance: number;
  key: string;
  answer: string;
}

export interface RecallItem {
  text: string;
  ids: number[];
  queries: RecallQuery[];
}

export interface RecallProbe {
  version: 1;
  tokenizer: string;
  seed: number;
  description: string;
  /** The probe proper: the facts name the answers. */
  items: RecallItem[];
  /** controls[i] is items[i] with every fact naming a different name (one no query of the item answers). */
  controls: RecallItem[];
}

// Facts are about these; filler sentences must not mention them.
export const RECALL_KEYS = [
  'cat', 'dog', 'bird', 'fish', 'frog', 'duck', 'bunny', 'horse', 'cow', 'pig', 'bear', 'mouse',
  'sheep', 'lion', 'owl', 'fox', 'puppy', 'kitten', 'turtle', 'monkey', 'goat', 'hen', 'bee', 'snake',
] as const;

export const RECALL_NAMES = [
  'Mia', 'Tom', 'Lily', 'Ben', 'Sam', 'Max', 'Anna', 'Tim', 'Sue', 'Lucy', 'Jack', 'Sara',
  'Bob', 'Joe', 'Kate', 'Zoe', 'Amy', 'Jill', 'Mike', 'Molly', 'Sally', 'Billy', 'Emma', 'Jane',
] as const;

/** TinyStories-style sentences without a name, an animal of RECALL_KEYS or the word "name". */
export const RECALL_FILLER = [
  'The sun was warm and bright.',
  'The sky was blue and the grass was green.',
  'A little wind moved the leaves on the tree.',
  'There was a big red ball in the park.',
  'The flowers were pretty and smelled sweet.',
  'It was a sunny day and everyone was happy.',
  'They played all day until it was time to go home.',
  'The water in the pond was cool and clear.',
  'A small boat floated on the lake.',
  'The house had a big door and a tiny window.',
  'There were many toys in the box.',
  'The cake was yummy and sweet.',
  'Mom made soup for lunch.',
  'The car was fast and shiny.',
  'It started to rain, so they went inside.',
  'The rain stopped and the sun came out again.',
  'The trees were tall and the path was long.',
  'They ate cookies and drank milk.',
  'The moon was round and the stars were bright.',
  'The big truck went down the road.',
  'There was a swing next to the old tree.',
  'The room was quiet and warm.',
  'Everyone laughed and clapped their hands.',
  'The kite flew high in the sky.',
  'They found a shiny rock by the river.',
  'The bed was soft and cozy.',
  'The garden had red, yellow and blue flowers.',
  'It was a good day to play outside.',
  'The door opened with a loud creak.',
  'They built a tall tower with blocks.',
  'The apple was red and juicy.',
  'The little boat had a white sail.',
  'Dad read a book before bed.',
  'The snow was cold and white.',
  'They said thank you and smiled.',
  'The box was heavy, so they pushed it together.',
];

export const RECALL_PROBE_SEED = 8;
export const RECALL_ITEMS = 32;
export const RECALL_FACTS_PER_ITEM = 6;
/** Filler lengths (tokens, at least), cycled over the items: all longer than a 64-token window plus margin. */
export const RECALL_FILLER_TOKENS = [96, 160, 256, 384, 480] as const;

/** mulberry32: a tiny seeded generator, so the probe is the same on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffled<T>(values: readonly T[], random: () => number): T[] {
  const out = values.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const words = (sentence: string) => sentence.toLowerCase().match(/[a-z]+/g) ?? [];

/** Throws when a filler sentence mentions a key, a name or "name" (the filler must carry no answer). */
export function checkFiller(filler: readonly string[] = RECALL_FILLER): void {
  const banned = new Set<string>(['name', 'names', ...RECALL_KEYS, ...RECALL_NAMES.map((n) => n.toLowerCase())]);
  for (const sentence of filler) {
    const hit = words(sentence).find((w) => banned.has(w) || banned.has(w.replace(/s$/, '')));
    if (hit) throw new Error(`filler sentence "${sentence}" mentions "${hit}"`);
  }
}

/**
 * One item as text segments; the answers are separate segments so their token span is known. The ids are the
 * concatenation of each segment's encoding, checked equal to the encoding of the whole text (segments start at
 * pretokenizer chunk boundaries: every answer is " Name" and is followed by ".").
 */
function buildItem(
  tokenizer: Tokenizer,
  keys: readonly string[],
  factNames: readonly string[],
  answers: readonly string[],
  questionOrder: readonly number[],
  filler: string,
): RecallItem {
  const segments: { text: string; answerOf?: { query: number } | { fact: number } }[] = [];
  keys.forEach((key, i) => {
    segments.push({ text: `${i === 0 ? '' : ' '}The ${key}'s name is` });
    segments.push({ text: ` ${factNames[i]}`, answerOf: { fact: i } });
    segments.push({ text: '.' });
  });
  segments.push({ text: ` ${filler}\n` });
  questionOrder.forEach((factIndex, j) => {
    segments.push({ text: `${j === 0 ? '' : ' '}The ${keys[factIndex]}'s name is` });
    segments.push({ text: ` ${answers[factIndex]}`, answerOf: { query: j } });
    segments.push({ text: '.' });
  });
  const ids: number[] = [];
  const factStart: number[] = [];
  const queries: RecallQuery[] = [];
  for (const segment of segments) {
    const start = ids.length;
    ids.push(...tokenizer.encode(segment.text));
    if (segment.answerOf && 'fact' in segment.answerOf) factStart[segment.answerOf.fact] = start;
    if (segment.answerOf && 'query' in segment.answerOf) {
      const factIndex = questionOrder[segment.answerOf.query]!;
      queries.push({ answerStart: start, answerEnd: ids.length, distance: start - factStart[factIndex]!, key: keys[factIndex]!, answer: answers[factIndex]! });
    }
  }
  const text = segments.map((s) => s.text).join('');
  const whole = tokenizer.encode(text);
  if (whole.length !== ids.length || whole.some((id, i) => id !== ids[i])) {
    throw new Error(`the segments of "${text.slice(0, 60)}…" do not tokenize like the whole text`);
  }
  return { text, ids, queries };
}

/** The whole probe for `tokenizer` (named `tokenizerName` in the file). */
export function makeRecallProbe(tokenizer: Tokenizer, tokenizerName: string, seed = RECALL_PROBE_SEED, itemCount = RECALL_ITEMS): RecallProbe {
  checkFiller();
  const random = seededRandom(seed);
  const n = RECALL_FACTS_PER_ITEM;
  const items: RecallItem[] = [];
  const controls: RecallItem[] = [];
  for (let item = 0; item < itemCount; item++) {
    const keys = shuffled(RECALL_KEYS, random).slice(0, n);
    const names = shuffled(RECALL_NAMES, random);
    const answers = names.slice(0, n);
    const otherNames = names.slice(n, 2 * n);
    const questionOrder = shuffled(Array.from({ length: n }, (_, i) => i), random);
    const fillerTokens = RECALL_FILLER_TOKENS[item % RECALL_FILLER_TOKENS.length]!;
    const sentences: string[] = [];
    let tokens = 0;
    while (tokens < fillerTokens) {
      const sentence = RECALL_FILLER[Math.floor(random() * RECALL_FILLER.length)]!;
      sentences.push(sentence);
      tokens += tokenizer.encode(` ${sentence}`).length;
    }
    const filler = sentences.join(' ');
    items.push(buildItem(tokenizer, keys, answers, answers, questionOrder, filler));
    controls.push(buildItem(tokenizer, keys, otherNames, answers, questionOrder, filler));
  }
  return {
    version: 1,
    tokenizer: tokenizerName,
    seed,
    description:
      'Associative recall (docs/DIAGNOSTICS.md). Per item: facts "The <key>\'s name is <Name>.", filler sentences, then the questions ' +
      '"The <key>\'s name is" with the answer " <Name>" at ids[answerStart..answerEnd). Score: reset, read [EOT] + ids, a query is ' +
      'correct iff the argmax before every answer token is that token. controls[i] = items[i] with facts naming other names.',
    items,
    controls,
  };
}

/** A probe file read back, checked enough that scoring cannot index out of range. */
export function parseRecallProbe(json: string, vocabSize: number): RecallProbe {
  const probe = JSON.parse(json) as RecallProbe;
  if (probe.version !== 1 || !Array.isArray(probe.items) || !Array.isArray(probe.controls)) {
    throw new Error('not a version-1 recall probe (expected { version: 1, items: [...], controls: [...] })');
  }
  for (const item of [...probe.items, ...probe.controls]) {
    if (item.ids.some((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize)) {
      throw new Error(`the probe (tokenizer "${probe.tokenizer}") has token ids outside this model's vocabulary of ${vocabSize}`);
    }
    for (const q of item.queries) {
      if (!(q.answerStart >= 1 && q.answerEnd > q.answerStart && q.answerEnd <= item.ids.length)) {
        throw new Error(`a query's answer span [${q.answerStart}, ${q.answerEnd}) is outside its item`);
      }
    }
  }
  return probe;
}
