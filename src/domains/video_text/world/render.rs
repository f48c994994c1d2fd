//! Rendering a scene to frames: `FRAMES` frames of `SIDE` x `SIDE` RGB,
//! stored `[frame][channel][row][column]`, values roughly in [0, 1].
//!
//! The background is a vertical gradient (light "sky" at the top, dark
//! "ground" at the bottom), so a rotated clip is recognisable as rotated;
//! every pixel gets uniform noise of amplitude [`NOISE`]. Geometry uses
//! only exact arithmetic on multiples of 0.5, so frames are bit-identical on
//! every machine.

use super::scene::{Scene, Shape};
use rand::Rng;

/// Frames per clip.
pub const FRAMES: usize = 8;
/// Frame height and width in pixels.
pub const SIDE: usize = 16;
/// Colour channels.
pub const CHANNELS: usize = 3;
/// Values per frame.
pub const FRAME_LEN: usize = CHANNELS * SIDE * SIDE;
/// Values per clip.
pub const CLIP_LEN: usize = FRAMES * FRAME_LEN;
/// Amplitude of the uniform pixel noise.
pub const NOISE: f32 = 0.05;

const SKY: [f32; 3] = [0.45, 0.55, 0.7];
const GROUND: [f32; 3] = [0.12, 0.1, 0.06];
const GREY: [f32; 3] = [0.5, 0.5, 0.5];

/// Whether pixel offset (dx, dy) from an object's centre is inside `shape` of half-width `r`.
fn inside(shape: Shape, r: f32, dx: f32, dy: f32) -> bool {
    let (ax, ay) = (dx.abs(), dy.abs());
    match shape {
        Shape::Square => ax <= r && ay <= r,
        Shape::Circle => dx * dx + dy * dy <= r * r + 0.5,
        Shape::Diamond => ax + ay <= r,
        Shape::Cross => (ax <= 0.5 && ay <= r) || (ay <= 0.5 && ax <= r),
        Shape::Triangle => ay <= r && 2.0 * ax <= dy + r,
    }
}

/// Renders `scene`, adding noise drawn from `rng`.
pub fn render<R: Rng>(scene: &Scene, rng: &mut R) -> Vec<f32> {
    let mut out = vec![0.0f32; CLIP_LEN];
    let plane = SIDE * SIDE;
    for t in 0..FRAMES {
        let frame = &mut out[t * FRAME_LEN..(t + 1) * FRAME_LEN];
        for y in 0..SIDE {
            let g = y as f32 / (SIDE - 1) as f32;
            for x in 0..SIDE {
                let mut rgb = [0.0; 3];
                for c in 0..3 {
                    rgb[c] = SKY[c] * (1.0 - g) + GROUND[c] * g;
                }
                for d in &scene.distractors {
                    let (px, py) = (
                        d.start.0 + d.velocity.0 * t as f32,
                        d.start.1 + d.velocity.1 * t as f32,
                    );
                    let (fx, fy) = (x as f32 - px, y as f32 - py);
                    if (0.0..2.0).contains(&fx) && (0.0..2.0).contains(&fy) {
                        rgb = GREY;
                    }
                }
                for o in &scene.objects {
                    let (cx, cy) = o.centre(t);
                    if inside(o.shape, o.size.radius(), x as f32 - cx, y as f32 - cy) {
                        rgb = o.colour.rgb();
                    }
                }
                for c in 0..3 {
                    frame[c * plane + y * SIDE + x] = rgb[c] + rng.gen_range(-NOISE..NOISE);
                }
            }
        }
    }
    out
}
