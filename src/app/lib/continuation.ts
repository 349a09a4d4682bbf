// A reply that continues the person's unfinished sentence starts with the punctuation that ends it ("Lily had a cat"
// → ". She…"). The chat shows that punctuation at the end of the person's turn, where it reads, and the reply from its
// first word: every character once, in the order the model read and wrote them.
const CLOSING = /^\s*([.,;:!?]+)(?=\s|$)/;

/** The punctuation at the start of a reply that closes the sentence before it ('' when there is none). */
export function closingPunctuation(reply: string): string {
  return CLOSING.exec(reply)?.[1] ?? '';
}

/** The reply as shown: without that punctuation (when it follows the person's turn) and without leading whitespace. */
export function replyBody(reply: string, followsPrompt: boolean): string {
  return (followsPrompt ? reply.replace(CLOSING, '') : reply).replace(/^\s+/, '');
}
