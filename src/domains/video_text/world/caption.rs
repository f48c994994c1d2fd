//! Captions: a small grammar with synonyms and varied word order.
//!
//! One object phrase is `det size colour shape` followed by a predicate in
//! one of four orders ("moves left quickly", "quickly moves left",
//! "quickly the ... moves left", and for a lone object "there is ...
//! moving left quickly"); two
//! objects are joined by "and" or "while". Every word is in
//! [`super::vocab::WORDS`], and a caption never exceeds
//! [`super::vocab::MAX_TOKENS`] words.

use super::scene::{Colour, Direction, Object, Shape, Size, Speed};
use rand::seq::SliceRandom;
use rand::Rng;

fn size_words(s: Size) -> &'static [&'static str] {
    match s {
        Size::Small => &["small", "tiny", "little"],
        Size::Big => &["big", "large", "huge"],
    }
}

fn colour_words(c: Colour) -> &'static [&'static str] {
    match c {
        Colour::Red => &["red", "crimson"],
        Colour::Green => &["green", "emerald"],
        Colour::Blue => &["blue", "navy"],
        Colour::Yellow => &["yellow", "golden"],
        Colour::Purple => &["purple", "violet"],
        Colour::Orange => &["orange", "amber"],
    }
}

fn shape_words(s: Shape) -> &'static [&'static str] {
    match s {
        Shape::Square => &["square", "box", "block"],
        Shape::Circle => &["circle", "ball", "disc"],
        Shape::Triangle => &["triangle", "wedge"],
        Shape::Cross => &["cross", "plus"],
        Shape::Diamond => &["diamond", "rhombus"],
    }
}

fn direction_words(d: Direction) -> &'static [&'static str] {
    match d {
        Direction::Left => &["left", "to the left", "leftward"],
        Direction::Right => &["right", "to the right", "rightward"],
        Direction::Up => &["up", "upward", "upwards", "to the top"],
        Direction::Down => &["down", "downward", "downwards", "to the bottom"],
    }
}

fn speed_words(s: Speed) -> &'static [&'static str] {
    match s {
        Speed::Slow => &["slowly", "gently", "lazily"],
        Speed::Fast => &["quickly", "fast", "rapidly", "swiftly"],
    }
}

const VERBS: [&str; 7] = [
    "moves", "goes", "travels", "slides", "drifts", "glides", "heads",
];

fn pick<R: Rng>(rng: &mut R, words: &[&'static str]) -> &'static str {
    words.choose(rng).copied().unwrap_or_default()
}

/// Describes one object; `alone` allows the longest ("there is ...") form.
fn phrase<R: Rng>(rng: &mut R, o: &Object, alone: bool) -> String {
    let det = pick(rng, &["a", "the", "one"]);
    let noun = format!(
        "{det} {} {} {}",
        pick(rng, size_words(o.size)),
        pick(rng, colour_words(o.colour)),
        pick(rng, shape_words(o.shape))
    );
    let verb = pick(rng, &VERBS);
    let dir = pick(rng, direction_words(o.direction));
    let speed = pick(rng, speed_words(o.speed));
    let forms = if alone { 4 } else { 3 };
    match rng.gen_range(0..forms) {
        0 => format!("{noun} {verb} {dir} {speed}"),
        1 => format!("{noun} {speed} {verb} {dir}"),
        2 => format!("{speed} {noun} {verb} {dir}"),
        _ => format!("there is {noun} moving {dir} {speed}"),
    }
}

/// A caption for the described objects (one or two).
pub fn caption<R: Rng>(rng: &mut R, objects: &[Object]) -> String {
    let mut parts = Vec::with_capacity(objects.len());
    for o in objects {
        parts.push(phrase(rng, o, objects.len() == 1));
    }
    let joiner = if rng.gen_bool(0.5) {
        " and "
    } else {
        " while "
    };
    parts.join(joiner)
}
