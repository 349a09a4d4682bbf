// A reply that continues the person's unfinished sentence starts with the punctuation that ends it ("Lily had a cat"
// → ". She…"). The chat shows that punctuation at the end of the person's turn, where it reads, and the reply from its
// first word: every character once, in the order the model read and wrote them.
const CLOSING = /^\s*([.,;:!?]+)(?=\s|$)/;

/**
 * The punctuation at the start of a reply that closes the sentence before it ('' when there is none, and when the
 * reply is nothing else: a reply of only punctuation keeps it, rather than showing as an empty turn).
 */
export function closingPunctuation(reply: string): string {
  const m = CLOSING.exec(reply);
  return m && reply.slice(m[0].length).trim() !== '' ? m[1] : '';
}

/** The reply as shown: without that punctuation (when it follows the person's turn) and without leading whitespace. */
export function replyBody(reply: string, followsPrompt: boolean): string {
  const closing = followsPrompt ? closingPunctuation(reply) : '';
  return (closing ? reply.replace(CLOSING, '') : reply).replace(/^\s+/, '');
}
