//! The digits file: loading (gzip, CSV, every value checked) and the fixed
//! split by row order.
//!
//! Each line holds 64 pixel values (an 8x8 image, row-major, integers in
//! `0..=16`) then the label (`0..=9`), comma separated, no header. A
//! malformed file is an error naming the file, the 1-based line and what
//! is wrong with it.
//!
//! The split ([`SplitRows::of`]): the last [`TEST_ROWS`] rows are the test
//! split; of the rows before them, for each class the first
//! [`TRAIN_PER_CLASS`] rows of that class are the train split, the next
//! [`VAL_PER_CLASS`] the validation split, and the rest the unlabelled
//! pretraining pool. Every split keeps file order.

use super::{CLASSES, PIXELS};
use crate::dataset::Split;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest pixel value in the file (pixels are scaled by `1 / MAX_VALUE`).
pub const MAX_VALUE: u8 = 16;
/// Rows at the end of the file that form the test split.
pub const TEST_ROWS: usize = 1000;
/// Train examples per class (taken first, in file order, before the test rows).
pub const TRAIN_PER_CLASS: usize = 10;
/// Validation examples per class (the next ones of that class).
pub const VAL_PER_CLASS: usize = 15;

/// The name the embedded file has in error messages.
pub const BUILTIN_PATH: &str = "src/domains/digits/digits.csv.gz";

/// The embedded copy of the data (see `src/domains/digits/README.md`).
static BUILTIN: &[u8] = include_bytes!("digits.csv.gz");

/// The most CSV text [`Digits::from_csv_gz`] decompresses (64 MiB, about
/// 300 times the built-in file).
pub const MAX_CSV_BYTES: u64 = 64 << 20;

/// Images and labels of a digits file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// `rows × 64` pixel values scaled to `[0, 1]`, row-major per image.
    pixels: Vec<f32>,
    /// One label per row, in `0..10`.
    labels: Vec<usize>,
}

impl Digits {
    /// The copy of the data built into the crate.
    pub fn builtin() -> Result<Digits> {
        Digits::from_csv_gz(BUILTIN, Path::new(BUILTIN_PATH))
    }

    /// Parses gzip-compressed CSV bytes; `path` names the file in errors.
    /// Text beyond [`MAX_CSV_BYTES`] is refused (a gzip bomb stops there).
    pub fn from_csv_gz(bytes: &[u8], path: &Path) -> Result<Digits> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_CSV_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| config(path, format!("not a gzip-compressed UTF-8 CSV file: {e}")))?;
        if text.len() as u64 > MAX_CSV_BYTES {
            return Err(config(
                path,
                format!("decompresses to more than {MAX_CSV_BYTES} bytes"),
            ));
        }
        Digits::from_csv(&text, path)
    }

    /// Parses CSV text; `path` names the file in errors.
    pub fn from_csv(text: &str, path: &Path) -> Result<Digits> {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = |message: String| config(path, format!("line {}: {message}", i + 1));
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != PIXELS + 1 {
                return Err(at(format!(
                    "expected {} comma-separated values ({PIXELS} pixels then the label), found {}",
                    PIXELS + 1,
                    fields.len()
                )));
            }
            for (col, f) in fields[..PIXELS].iter().enumerate() {
                match f.parse::<u8>() {
                    Ok(v) if v <= MAX_VALUE => pixels.push(v as f32 / MAX_VALUE as f32),
                    _ => {
                        return Err(at(format!(
                            "pixel {} is `{f}`, expected an integer in 0..={MAX_VALUE}",
                            col + 1
                        )))
                    }
                }
            }
            let f = fields[PIXELS];
            match f.parse::<usize>() {
                Ok(v) if v < CLASSES => labels.push(v),
                _ => {
                    return Err(at(format!(
                        "label is `{f}`, expected an integer in 0..={}",
                        CLASSES - 1
                    )))
                }
            }
        }
        if labels.is_empty() {
            return Err(config(path, "no rows".into()));
        }
        Ok(Digits { pixels, labels })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows (never true for a loaded file).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row `i`'s 64 pixels, scaled to `[0, 1]`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    /// Row `i`'s label.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i]
    }

    /// All labels, in file order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
}

fn config(path: &Path, message: String) -> Error {
    Error::Config {
        path: PathBuf::from(path),
        message,
    }
}

/// The rows of each split, in file order; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRows {
    /// Downstream training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub val: Vec<usize>,
    /// The unlabelled pretraining pool.
    pub pool: Vec<usize>,
    /// Test rows: the last [`TEST_ROWS`] (all of them in a shorter file).
    pub test: Vec<usize>,
}

impl SplitRows {
    /// The split of a file whose rows have these labels.
    pub fn of(labels: &[usize]) -> SplitRows {
        let n = labels.len();
        let head = n.saturating_sub(TEST_ROWS);
        let mut seen = [0usize; CLASSES];
        let (mut train, mut val, mut pool) = (Vec::new(), Vec::new(), Vec::new());
        for (row, &c) in labels[..head].iter().enumerate() {
            let k = seen[c];
            seen[c] += 1;
            if k < TRAIN_PER_CLASS {
                train.push(row);
            } else if k < TRAIN_PER_CLASS + VAL_PER_CLASS {
                val.push(row);
            } else {
                pool.push(row);
            }
        }
        SplitRows {
            train,
            val,
            pool,
            test: (head..n).collect(),
        }
    }

    /// The rows of `split` ([`Split::Pretrain`]: the pool).
    pub fn rows(&self, split: Split) -> &[usize] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
            Split::Pretrain => &self.pool,
        }
    }
}
