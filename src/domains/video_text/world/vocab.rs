//! The world's vocabulary: a fixed word list, so token ids are stable across
//! machines and versions of the grammar that only reorder phrases.
//!
//! Ids 0..3 are special: `[PAD]` fills captions up to [`MAX_TOKENS`],
//! `[MASK]` replaces tokens hidden by masked language modelling, `[UNK]`
//! stands for any word outside the list.

/// Padding token id.
pub const PAD: usize = 0;
/// Mask token id.
pub const MASK: usize = 1;
/// Unknown-word token id.
pub const UNK: usize = 2;

/// Every caption is padded or cut to this many tokens.
pub const MAX_TOKENS: usize = 20;

/// All tokens, id = position. Special tokens first.
pub const WORDS: [&str; 80] = [
    "[PAD]",
    "[MASK]",
    "[UNK]",
    // determiners and connectives
    "a",
    "the",
    "one",
    "and",
    "while",
    "there",
    "is",
    "moving",
    "to",
    "as",
    "with",
    // sizes
    "small",
    "tiny",
    "little",
    "big",
    "large",
    "huge",
    // colours
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "crimson",
    "emerald",
    "navy",
    "golden",
    "violet",
    "amber",
    // shapes
    "square",
    "box",
    "block",
    "circle",
    "ball",
    "disc",
    "triangle",
    "wedge",
    "cross",
    "plus",
    "diamond",
    "rhombus",
    // verbs
    "moves",
    "goes",
    "travels",
    "slides",
    "drifts",
    "glides",
    "heads",
    // directions
    "left",
    "right",
    "up",
    "down",
    "leftward",
    "rightward",
    "upward",
    "downward",
    "upwards",
    "downwards",
    "side",
    "top",
    "bottom",
    "toward",
    // speeds
    "slowly",
    "gently",
    "lazily",
    "quickly",
    "fast",
    "rapidly",
    "swiftly",
    // filler
    "scene",
    "clip",
    "video",
    "object",
    "shape",
    "in",
    "this",
    "of",
];

/// Number of token ids, specials included.
pub const VOCAB_SIZE: usize = WORDS.len();

/// The id of `word`, or [`UNK`].
pub fn token_id(word: &str) -> usize {
    WORDS.iter().position(|w| *w == word).unwrap_or(UNK)
}

/// Tokenises a caption: lower-cases, splits on whitespace and punctuation,
/// maps to ids, cuts to [`MAX_TOKENS`] and pads with [`PAD`].
pub fn tokenize(caption: &str) -> Vec<usize> {
    let mut ids: Vec<usize> = caption
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| token_id(&w.to_lowercase()))
        .take(MAX_TOKENS)
        .collect();
    ids.resize(MAX_TOKENS, PAD);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_unique_and_tokenize_round_trips() {
        let mut sorted = WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), VOCAB_SIZE);
        let ids = tokenize("The big red ball moves left, quickly!");
        assert_eq!(ids.len(), MAX_TOKENS);
        let words: Vec<&str> = ids.iter().take(7).map(|&i| WORDS[i]).collect();
        assert_eq!(
            words,
            ["the", "big", "red", "ball", "moves", "left", "quickly"]
        );
        assert_eq!(ids[7], PAD);
        assert_eq!(tokenize("zebra")[0], UNK);
    }
}
