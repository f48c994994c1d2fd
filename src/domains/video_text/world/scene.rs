//! What a clip shows: objects with a shape, colour, size, motion direction
//! and speed, drawn from a seeded generator.
//!
//! The downstream split has a compositional shift: the (shape, colour)
//! pairs for which [`held_out`] is true never appear in downstream
//! training clips, but do appear in validation, test and pretraining.

use rand::Rng;

/// An object's outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Shape {
    /// Filled square.
    Square,
    /// Filled disc.
    Circle,
    /// Filled triangle pointing up.
    Triangle,
    /// Plus sign.
    Cross,
    /// Square standing on a corner.
    Diamond,
}

/// An object's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Colour {
    /// (0.9, 0.1, 0.1)
    Red,
    /// (0.1, 0.8, 0.2)
    Green,
    /// (0.15, 0.3, 1.0)
    Blue,
    /// (0.95, 0.9, 0.1)
    Yellow,
    /// (0.6, 0.15, 0.8)
    Purple,
    /// (1.0, 0.55, 0.05)
    Orange,
}

/// An object's size: its half-width in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Size {
    /// Half-width 2.
    Small,
    /// Half-width 3.
    Big,
}

/// Where an object moves, in image coordinates (up = towards row 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Towards column 0.
    Left,
    /// Towards the last column.
    Right,
    /// Towards row 0.
    Up,
    /// Towards the last row.
    Down,
}

/// How fast an object moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Speed {
    /// Half a pixel per frame.
    Slow,
    /// One pixel per frame.
    Fast,
}

/// All shapes, in index order.
pub const SHAPES: [Shape; 5] = [
    Shape::Square,
    Shape::Circle,
    Shape::Triangle,
    Shape::Cross,
    Shape::Diamond,
];
/// All colours, in index order.
pub const COLOURS: [Colour; 6] = [
    Colour::Red,
    Colour::Green,
    Colour::Blue,
    Colour::Yellow,
    Colour::Purple,
    Colour::Orange,
];
/// All directions, in index order.
pub const DIRECTIONS: [Direction; 4] = [
    Direction::Left,
    Direction::Right,
    Direction::Up,
    Direction::Down,
];

impl Colour {
    /// Linear RGB in [0, 1].
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Colour::Red => [0.9, 0.1, 0.1],
            Colour::Green => [0.1, 0.8, 0.2],
            Colour::Blue => [0.15, 0.3, 1.0],
            Colour::Yellow => [0.95, 0.9, 0.1],
            Colour::Purple => [0.6, 0.15, 0.8],
            Colour::Orange => [1.0, 0.55, 0.05],
        }
    }
}

impl Size {
    /// Half-width in pixels.
    pub fn radius(self) -> f32 {
        match self {
            Size::Small => 2.0,
            Size::Big => 3.0,
        }
    }
}

impl Speed {
    /// Pixels per frame.
    pub fn pixels_per_frame(self) -> f32 {
        match self {
            Speed::Slow => 0.5,
            Speed::Fast => 1.0,
        }
    }
}

impl Direction {
    /// Unit step (dx, dy) in image coordinates.
    pub fn step(self) -> (f32, f32) {
        match self {
            Direction::Left => (-1.0, 0.0),
            Direction::Right => (1.0, 0.0),
            Direction::Up => (0.0, -1.0),
            Direction::Down => (0.0, 1.0),
        }
    }
}

/// Whether clips with this (shape, colour) pair are kept out of downstream training.
pub fn held_out(shape: Shape, colour: Colour) -> bool {
    (shape as usize + colour as usize) % 5 == 0
}

/// One described object and where it starts (pixel coordinates, multiples of 0.5).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Object {
    /// Outline.
    pub shape: Shape,
    /// Colour.
    pub colour: Colour,
    /// Size.
    pub size: Size,
    /// Motion direction.
    pub direction: Direction,
    /// Motion speed.
    pub speed: Speed,
    /// Centre at frame 0, (x, y).
    pub start: (f32, f32),
}

impl Object {
    /// Centre at frame `t`.
    pub fn centre(&self, t: usize) -> (f32, f32) {
        let (dx, dy) = self.direction.step();
        let s = self.speed.pixels_per_frame() * t as f32;
        (self.start.0 + dx * s, self.start.1 + dy * s)
    }
}

/// An undescribed grey 2x2 blob that wanders across the clip.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Distractor {
    /// Top-left corner at frame 0.
    pub start: (f32, f32),
    /// Per-frame displacement.
    pub velocity: (f32, f32),
}

/// Everything a clip shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scene {
    /// The objects the caption describes (one or two).
    pub objects: Vec<Object>,
    /// Objects the caption does not mention.
    pub distractors: Vec<Distractor>,
}

/// A uniformly drawn multiple of 0.5 in `[lo, hi]`.
fn half_step<R: Rng>(rng: &mut R, lo: f32, hi: f32) -> f32 {
    let steps = ((hi - lo) * 2.0).floor() as u32;
    lo + rng.gen_range(0..=steps) as f32 * 0.5
}

/// Draws an object whose whole trajectory stays inside a `side` x `side` frame.
fn sample_object<R: Rng>(rng: &mut R, side: f32, frames: usize, allow_held_out: bool) -> Object {
    let (shape, colour) = loop {
        let s = SHAPES[rng.gen_range(0..SHAPES.len())];
        let c = COLOURS[rng.gen_range(0..COLOURS.len())];
        if allow_held_out || !held_out(s, c) {
            break (s, c);
        }
    };
    let size = if rng.gen_bool(0.5) {
        Size::Small
    } else {
        Size::Big
    };
    let direction = DIRECTIONS[rng.gen_range(0..4)];
    let speed = if rng.gen_bool(0.5) {
        Speed::Slow
    } else {
        Speed::Fast
    };
    let r = size.radius();
    let travel = speed.pixels_per_frame() * (frames - 1) as f32;
    let (lo, hi) = (r, side - 1.0 - r);
    let (dx, dy) = direction.step();
    let along = |d: f32, rng: &mut R| match d {
        d if d < 0.0 => half_step(rng, lo + travel, hi),
        d if d > 0.0 => half_step(rng, lo, hi - travel),
        _ => half_step(rng, lo, hi),
    };
    let x = along(dx, rng);
    let y = along(dy, rng);
    Object {
        shape,
        colour,
        size,
        direction,
        speed,
        start: (x, y),
    }
}

/// Draws a scene: one or two distinguishable objects and up to two distractors.
pub fn sample_scene<R: Rng>(
    rng: &mut R,
    side: usize,
    frames: usize,
    allow_held_out: bool,
) -> Scene {
    let side = side as f32;
    let first = sample_object(rng, side, frames, allow_held_out);
    let mut objects = vec![first];
    if rng.gen_bool(0.5) {
        let second = loop {
            let o = sample_object(rng, side, frames, allow_held_out);
            if (o.shape, o.colour) != (first.shape, first.colour) {
                break o;
            }
        };
        objects.push(second);
    }
    let distractors = (0..rng.gen_range(0..=2))
        .map(|_| Distractor {
            start: (
                half_step(rng, 0.0, side - 2.0),
                half_step(rng, 0.0, side - 2.0),
            ),
            velocity: (
                half_step(rng, -1.0, 1.0) * 0.5,
                half_step(rng, -1.0, 1.0) * 0.5,
            ),
        })
        .collect();
    Scene {
        objects,
        distractors,
    }
}
