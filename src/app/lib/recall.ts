// The recall panel's plan for one item of the recall probe (probes/recall-v1.json, docs/DIAGNOSTICS.md): the model
// reads end-of-text + the item's text from a reset; where a fact's answer begins its position is noted; before each
// question's " is" the state is saved, the model reads " is" and continues greedily (its answer), the state is put
// back, and reading goes on with the true text. The distance is the model's own token count from the fact's answer
// to the question's answer, as the probe defines it (answerStart − the fact's answerStart).
// Works on characters, not ids, so that any model's tokenizer reads it (the tiny byte-level test models too); every
// cut falls before a space, where the pretokenizer cuts anyway, so the pieces tokenize as the whole text does.
import { END_OF_TEXT } from '../../engine/tokenizer/tokenizer';

export interface RecallItemText {
  text: string;
  queries: { key: string; answer: string }[];
}

export type RecallStep =
  /** Read up to `at` (exclusive), then note the position: the fact about `key` has its answer there. */
  | { kind: 'fact'; at: number; key: string }
  /** Read up to `at` (the space of " is"), then ask: query `query`'s answer starts at `answerAt`. */
  | { kind: 'ask'; at: number; answerAt: number; query: number };

export interface RecallPlan {
  /** END_OF_TEXT + the item's text: what is read. */
  stream: string;
  steps: RecallStep[];
}

const question = (key: string) => `The ${key}'s name is`;

export function recallPlan(item: RecallItemText): RecallPlan {
  const stream = END_OF_TEXT + item.text;
  const split = stream.lastIndexOf('\n');
  if (split < 0) throw new Error('a recall item has its facts and filler, a newline, then its questions');
  const steps: RecallStep[] = [];
  const facts = new Set(item.queries.map((q) => q.key));
  for (const key of facts) {
    const at = stream.indexOf(question(key));
    if (at < 0 || at > split) throw new Error(`no fact about the ${key} before the questions`);
    steps.push({ kind: 'fact', at: at + question(key).length, key });
  }
  let from = split;
  item.queries.forEach((q, query) => {
    const at = stream.indexOf(question(q.key), from);
    if (at < 0) throw new Error(`no question about the ${q.key}`);
    const answerAt = at + question(q.key).length;
    if (!stream.startsWith(` ${q.answer}`, answerAt)) throw new Error(`the question about the ${q.key} is not answered by ${q.answer}`);
    steps.push({ kind: 'ask', at: answerAt - ' is'.length, answerAt, query });
    from = answerAt;
  });
  steps.sort((a, b) => a.at - b.at);
  return { stream, steps };
}

/** The name a continuation gives (its first word), and whether it is the answer (the whole word, nothing more). */
export function judgeAnswer(continuation: string, answer: string): { said: string; correct: boolean } {
  const said = continuation.replace(END_OF_TEXT, ' ⏎').trimStart().split(/[\s.,!?;:"]/)[0] ?? '';
  return { said, correct: said === answer };
}
