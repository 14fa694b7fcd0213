/**
 * Text operations that must not break what users write in other scripts.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * `text` cut to at most `max` UTF-16 units at a grapheme boundary, with `…` when cut. Slicing the
 * string itself left half an emoji (a lone surrogate, which JSON carries as `\ud83d` and strict
 * decoders refuse) or a base letter without its combining accent.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  for (const { index, segment } of graphemes.segment(text)) {
    if (index + segment.length > max) break;
    end = index + segment.length;
  }
  return `${text.slice(0, end)}…`;
}

