import { describe, expect, it } from 'vitest';
import { closingPunctuation, replyBody } from './continuation';

describe('a reply that continues the prompt', () => {
  it('gives its sentence-ending punctuation to the prompt and starts at its first word', () => {
    expect(closingPunctuation('. She went home.')).toBe('.');
    expect(replyBody('. She went home.', true)).toBe('She went home.');
    expect(closingPunctuation(' !? Then')).toBe('!?');
    expect(replyBody(' !? Then', true)).toBe('Then');
  });

  it('leaves replies that start with a word, a quote or an ellipsis-like token inside a word alone, minus leading spaces', () => {
    expect(closingPunctuation(' She ran.')).toBe('');
    expect(replyBody(' She ran.', true)).toBe('She ran.');
    expect(closingPunctuation('"Hello," she said.')).toBe('');
    expect(closingPunctuation('.5 apples')).toBe(''); // not followed by a space: part of a word
    expect(replyBody('.5 apples', true)).toBe('.5 apples');
  });

  it('keeps the punctuation where there is no prompt before the reply (a regenerated reply after a note)', () => {
    expect(replyBody('. She went home.', false)).toBe('. She went home.');
  });

  it('a reply that is only punctuation keeps it (no empty turn)', () => {
    expect(closingPunctuation('.')).toBe('');
    expect(closingPunctuation(' ... ')).toBe('');
    expect(replyBody(' ...', true)).toBe('...');
  });
});
