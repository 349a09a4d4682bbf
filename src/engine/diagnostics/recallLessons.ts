// Recall lessons: training text that rewards remembering facts across a distance (issue 17's "facts and later
// questions about them, in the stories' own language"). A lesson is a few facts in story sentences and, for each,
// a question with its answer; the trainer (train/train.py --lesson-frac) puts real story text between the facts
// and the questions (each side of it a newline, as the probe puts one before its questions), so the answers are predictable only from memory once the gap is past the sliding window.
//
// The recall probe (recallProbe.ts, probes/recall-v1.json) stays the test: lessons use none of its templates
// ("The <animal>'s name is <Name>."), none of its keys (animals) and none of its names, so a model can only score
// on the probe by having learned to recall, not by having seen the probe's pairs. recallLessons.test.ts checks it.
import { RECALL_KEYS, RECALL_NAMES, seededRandom, shuffled } from './recallProbe';
import type { Tokenizer } from '../tokenizer/tokenizer';

/** Names of the lessons' people: disjoint from RECALL_NAMES (tested). */
export const LESSON_NAMES = [
  'Nina', 'Leo', 'Rosa', 'Finn', 'Ella', 'Owen', 'Ruby', 'Jake', 'Ivy', 'Noah', 'Ava', 'Eli',
  'Lola', 'Theo', 'Maya', 'Luke', 'Nora', 'Adam', 'Gwen', 'Hugo', 'Rita', 'Carl', 'Dana', 'Omar',
  'Paul', 'Rose', 'Dan', 'Grace', 'Henry', 'Ruth', 'Fred', 'Clara', 'Ted', 'Lisa', 'Ron', 'Peggy',
] as const;

/** Things the facts are about: no animal of RECALL_KEYS (tested). */
export const LESSON_THINGS = [
  'kite', 'hat', 'boat', 'drum', 'cup', 'doll', 'bike', 'sock', 'coat', 'book', 'spoon', 'box',
  'bag', 'shoe', 'key', 'car', 'train', 'bell', 'lamp', 'chair', 'blanket', 'crayon', 'shell', 'flag',
] as const;

export const LESSON_COLORS = ['red', 'blue', 'green', 'yellow', 'pink', 'purple', 'orange', 'brown', 'black', 'white'] as const;
export const LESSON_PLACES = ['bed', 'table', 'tree', 'rug', 'sofa', 'bridge', 'stairs', 'sink'] as const;

/** A fact and its question: `ask` is the question's text up to the answer, `answer` the answer's text, `end` what follows. */
interface Pair {
  fact: string;
  ask: string;
  answer: string;
  end: string;
}

type Template = (name: string, thing: string, color: string, place: string) => Pair;

// Each answer starts with a space and is followed by punctuation, so its tokens are the same inside the sentence
// as alone (checked when the lesson is encoded).
const TEMPLATES: Template[] = [
  (name, thing, color) => ({ fact: `${name} had ${/^[aeiou]/.test(color) ? 'an' : 'a'} ${color} ${thing}.`, ask: `What color was ${name}'s ${thing}? It was`, answer: ` ${color}`, end: '.' }),
  (name, thing) => ({ fact: `The ${thing} belonged to ${name}.`, ask: `Who did the ${thing} belong to? It belonged to`, answer: ` ${name}`, end: '.' }),
  (name, thing, _color, place) => ({ fact: `${name} hid the ${thing} under the ${place}.`, ask: `Where did ${name} hide the ${thing}? Under the`, answer: ` ${place}`, end: '.' }),
  (name, thing) => ({ fact: `${name} got a new ${thing} as a gift.`, ask: `Who got a new ${thing}? It was`, answer: ` ${name}`, end: '.' }),
];

/** A lesson as token ids: `facts` (the fact sentences), then `qa` (questions and answers); answers[i] = [start, end) in qa. */
export interface Lesson {
  facts: number[];
  qa: number[];
  answers: [number, number][];
}

function pickDistinct<T>(values: readonly T[], n: number, random: () => number): T[] {
  return shuffled(values, random).slice(0, n);
}

function encodeChecked(tokenizer: Tokenizer, segments: { text: string; answer?: boolean }[]) {
  const ids: number[] = [];
  const answers: [number, number][] = [];
  for (const s of segments) {
    const start = ids.length;
    ids.push(...tokenizer.encode(s.text));
    if (s.answer) answers.push([start, ids.length]);
  }
  const whole = tokenizer.encode(segments.map((s) => s.text).join(''));
  if (whole.length !== ids.length || whole.some((id, i) => id !== ids[i])) return null;
  return { ids, answers };
}

/**
 * `count` lessons of 2–6 facts each (distinct names and things within a lesson; questions in another order).
 * A lesson whose pieces do not tokenize as its whole text is redrawn.
 */
export function makeRecallLessons(tokenizer: Tokenizer, count: number, seed = 17): Lesson[] {
  const random = seededRandom(seed);
  const lessons: Lesson[] = [];
  while (lessons.length < count) {
    const n = 2 + Math.floor(random() * 5);
    const names = pickDistinct(LESSON_NAMES, n, random);
    const things = pickDistinct(LESSON_THINGS, n, random);
    const pairs = names.map((name, i) => {
      const template = TEMPLATES[Math.floor(random() * TEMPLATES.length)]!;
      const color = LESSON_COLORS[Math.floor(random() * LESSON_COLORS.length)]!;
      const place = LESSON_PLACES[Math.floor(random() * LESSON_PLACES.length)]!;
      return template(name, things[i]!, color, place);
    });
    const order = pickDistinct(pairs.map((_, i) => i), n, random);
    const facts = encodeChecked(tokenizer, pairs.map((p, i) => ({ text: `${i === 0 ? '' : ' '}${p.fact}` })));
    const qaSegments = order.flatMap((i, j) => [
      { text: `${j === 0 ? '' : ' '}${pairs[i]!.ask}` },
      { text: pairs[i]!.answer, answer: true },
      { text: pairs[i]!.end },
    ]);
    const qa = encodeChecked(tokenizer, qaSegments);
    if (!facts || !qa) continue;
    lessons.push({ facts: facts.ids, qa: qa.ids, answers: qa.answers });
  }
  return lessons;
}

/** Words a lesson may not share with the probe's facts (its keys and names); used by the test. */
export function probeWords(): Set<string> {
  return new Set([...RECALL_KEYS, ...RECALL_NAMES.map((n) => n.toLowerCase())]);
}
