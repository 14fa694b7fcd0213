/**
 * Text operations that must not break what users write in other scripts.
 */

/** Made on first use: creating it pages in ~1.7 MB of ICU break data (measured), which start-up need not pay. */
let graphemes: Intl.Segmenter | null = null;

/**
 * `text` cut to at most `max` UTF-16 units at a grapheme boundary, with `…` when cut. Slicing the
 * string itself left half an emoji (a lone surrogate, which JSON carries as `\ud83d` and strict
 * decoders refuse) or a base letter without its combining accent.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  for (const { index, segment } of (graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' })).segment(text)) {
    if (index + segment.length > max) break;
    end = index + segment.length;
  }
  return `${text.slice(0, end)}…`;
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Raise when foldKey's output changes: the skills index saves folded keys across restarts (skills/saved.ts)
 * and does not use keys saved under another version. test/i18n-skills.test.ts pins the output to it.
 */
export const FOLD_KEY_VERSION = 1;

/**
 * The key of a caseless, accent-blind comparison: compatibility forms folded (NFKD: `ｆｕｌｌ` →
 * `full`, `ﬁ` → `fi`), the accents of the Latin, Greek and Cyrillic combining block (U+0300–U+036F)
 * dropped (`Café` → `cafe`, `İstanbul` → `istanbul`), recomposed (Hangul, Japanese voiced kana and
 * the marks of other scripts stay as they are: they are letters there, not accents), lower-cased,
 * `ß` as `ss`. NFC and NFD spellings of the same text (macOS writes file names in NFD) give one key.
 */
export function foldKey(text: string): string {
  // ASCII folds to its lower case: most names and tags are, and a cold skills scan folds thousands.
  if (ASCII.test(text)) return text.toLowerCase();
  return text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').normalize('NFC').toLowerCase().replaceAll('ß', 'ss');
}
