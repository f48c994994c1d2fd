//! The digits file: loading (gzip, CSV, every value checked) and the fixed
//! split by row order.
//!
//! Each line holds 64 pixel values (an 8x8 image, row-major, integers in
//! `0..=16`) then the label (`0..=9`), comma separated, no header. A
//! malformed file is an error naming the file, the 1-based line and what
//! is wrong with it.
//!
//! The split ([`SplitRows::of`]): the last `test_rows` rows are the test
//! split; of the rows before them, for each class the first
//! `train_per_class` rows of that class are the train split, the next
//! `val_per_class` the validation split, and the rest the unlabelled
//! pretraining pool. Every split keeps file order. The sizes are
//! [`SplitSizes`], a run file's `[data_settings]` (default 10, 15, 1000).

use super::{CLASSES, PIXELS};
use crate::dataset::Split;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest pixel value in the file (pixels are scaled by `1 / MAX_VALUE`).
pub const MAX_VALUE: u8 = 16;
/// The sizes of the split: a run file's `[data_settings]` for `digits`,
/// every key optional.
///
/// ```toml
/// [data_settings]
/// train_per_class = 50
/// val_per_class = 15
/// test_rows = 1000
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitSizes {
    /// Train examples per class (taken first, in file order, before the test rows).
    pub train_per_class: usize,
    /// Validation examples per class (the next ones of that class).
    pub val_per_class: usize,
    /// Rows at the end of the file that form the test split.
    pub test_rows: usize,
}

impl Default for SplitSizes {
    fn default() -> SplitSizes {
        SplitSizes {
            train_per_class: 10,
            val_per_class: 15,
            test_rows: 1000,
        }
    }
}

impl SplitSizes {
    /// The sizes a `[data_settings]` table gives (JSON `null`: the
    /// defaults); an unknown key or a wrong type is an error naming it.
    pub fn from_settings(settings: &serde_json::Value) -> Result<SplitSizes> {
        if settings.is_null() {
            return Ok(SplitSizes::default());
        }
        serde_json::from_value(settings.clone()).map_err(|e| Error::InvalidSetting {
            field: "data_settings".into(),
            value: settings.to_string(),
            reason: format!("digits settings: {e}"),
        })
    }
}

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
    /// Test rows: the last `test_rows`.
    pub test: Vec<usize>,
}

impl SplitRows {
    /// The split of a file whose rows have these labels. Sizes the file
    /// cannot give (no test or train row, or a class with fewer than
    /// `train_per_class + val_per_class` rows before the test rows) are
    /// an error naming the setting and its value.
    pub fn of(labels: &[usize], sizes: &SplitSizes) -> Result<SplitRows> {
        let bad = |field: &str, value: usize, reason: String| {
            Err(Error::InvalidSetting {
                field: format!("data_settings.{field}"),
                value: value.to_string(),
                reason,
            })
        };
        let n = labels.len();
        if sizes.test_rows == 0 || sizes.test_rows >= n {
            return bad(
                "test_rows",
                sizes.test_rows,
                format!("must be between 1 and {} (the file has {n} rows)", n - 1),
            );
        }
        if sizes.train_per_class == 0 {
            return bad("train_per_class", 0, "must be at least 1".into());
        }
        if sizes.val_per_class == 0 {
            return bad("val_per_class", 0, "must be at least 1".into());
        }
        let head = n - sizes.test_rows;
        let labelled = sizes.train_per_class + sizes.val_per_class;
        let mut seen = [0usize; CLASSES];
        let (mut train, mut val, mut pool) = (Vec::new(), Vec::new(), Vec::new());
        for (row, &c) in labels[..head].iter().enumerate() {
            let k = seen[c];
            seen[c] += 1;
            if k < sizes.train_per_class {
                train.push(row);
            } else if k < labelled {
                val.push(row);
            } else {
                pool.push(row);
            }
        }
        if let Some((c, &have)) = seen.iter().enumerate().min_by_key(|(_, &k)| k) {
            if have < labelled {
                return Err(Error::InvalidSetting {
                    field: "data_settings.train_per_class + val_per_class".into(),
                    value: format!("{} + {}", sizes.train_per_class, sizes.val_per_class),
                    reason: format!(
                        "each class needs {labelled} rows before the last {} (test) rows; \
                         class {c} has {have}",
                        sizes.test_rows
                    ),
                });
            }
        }
        Ok(SplitRows {
            train,
            val,
            pool,
            test: (head..n).collect(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn builtin_labels() -> &'static [usize] {
        static LABELS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
        LABELS.get_or_init(|| Digits::builtin().unwrap().labels().to_vec())
    }

    /// Checks a split of `labels` at `sizes` against the rule, counted
    /// independently: per-class counts, disjoint, covering every row once,
    /// each split in file order, train rows before a class's val rows.
    fn check_split(labels: &[usize], sizes: &SplitSizes, r: &SplitRows) {
        let n = labels.len();
        let head = n - sizes.test_rows;
        assert_eq!(r.test, (head..n).collect::<Vec<_>>());
        let mut all: Vec<usize> = [&r.train[..], &r.val, &r.pool, &r.test].concat();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "disjoint and covering");
        for split in [&r.train, &r.val, &r.pool] {
            assert!(split.windows(2).all(|w| w[0] < w[1]), "file order");
            assert!(split.iter().all(|&i| i < head), "before the test rows");
        }
        for c in 0..CLASSES {
            let of = |rows: &[usize]| rows.iter().filter(|&&i| labels[i] == c).count();
            let before = labels[..head].iter().filter(|&&l| l == c).count();
            assert_eq!(of(&r.train), sizes.train_per_class, "class {c}");
            assert_eq!(of(&r.val), sizes.val_per_class, "class {c}");
            assert_eq!(
                of(&r.pool),
                before - sizes.train_per_class - sizes.val_per_class
            );
            let last_train = r.train.iter().filter(|&&i| labels[i] == c).max();
            let first_val = r.val.iter().filter(|&&i| labels[i] == c).min();
            assert!(last_train < first_val, "class {c}: train rows come first");
        }
    }

    #[test]
    fn the_default_sizes_give_the_documented_split() {
        let r = SplitRows::of(builtin_labels(), &SplitSizes::default()).unwrap();
        assert_eq!(
            (r.train.len(), r.val.len(), r.pool.len(), r.test.len()),
            (100, 150, 547, 1000)
        );
        check_split(builtin_labels(), &SplitSizes::default(), &r);
        assert_eq!(
            SplitSizes::from_settings(&serde_json::Value::Null).unwrap(),
            SplitSizes::default()
        );
    }

    #[test]
    fn larger_splits_take_the_next_rows_of_each_class() {
        let sizes =
            SplitSizes::from_settings(&serde_json::json!({ "train_per_class": 50 })).unwrap();
        assert_eq!((sizes.val_per_class, sizes.test_rows), (15, 1000));
        let big = SplitRows::of(builtin_labels(), &sizes).unwrap();
        let small = SplitRows::of(builtin_labels(), &SplitSizes::default()).unwrap();
        assert_eq!(
            (big.train.len(), big.val.len(), big.pool.len()),
            (500, 150, 147)
        );
        check_split(builtin_labels(), &sizes, &big);
        // The 10-per-class train split is the start of the 50-per-class one.
        assert!(small.train.iter().all(|i| big.train.contains(i)));
        // The largest split the file allows: its rarest class has 79 rows.
        let most = SplitSizes {
            train_per_class: 64,
            ..Default::default()
        };
        let r = SplitRows::of(builtin_labels(), &most).unwrap();
        check_split(builtin_labels(), &most, &r);
    }

    #[test]
    fn sizes_the_file_cannot_give_are_errors_naming_the_setting() {
        let labels = builtin_labels();
        let cases = [
            (
                SplitSizes {
                    train_per_class: 65,
                    ..Default::default()
                },
                "data_settings.train_per_class + val_per_class = 65 + 15",
                "needs 80 rows before the last 1000 (test) rows; class 4 has 79",
            ),
            (
                SplitSizes {
                    train_per_class: 0,
                    ..Default::default()
                },
                "data_settings.train_per_class = 0",
                "at least 1",
            ),
            (
                SplitSizes {
                    val_per_class: 0,
                    ..Default::default()
                },
                "data_settings.val_per_class = 0",
                "at least 1",
            ),
            (
                SplitSizes {
                    test_rows: 1797,
                    ..Default::default()
                },
                "data_settings.test_rows = 1797",
                "the file has 1797 rows",
            ),
            (
                SplitSizes {
                    test_rows: 0,
                    ..Default::default()
                },
                "data_settings.test_rows = 0",
                "between 1 and 1796",
            ),
        ];
        for (sizes, field, why) in cases {
            let e = SplitRows::of(labels, &sizes).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains(why), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let e = SplitSizes::from_settings(&serde_json::json!({ "train_per_clas": 50 }))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_settings") && e.contains("train_per_clas"),
            "{e}"
        );
        let e = SplitSizes::from_settings(&serde_json::json!({ "test_rows": "all" }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("test_rows") || e.contains("invalid type"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_possible_size_splits_by_the_rule(
            train in 1usize..60,
            val in 1usize..30,
            test_rows in 500usize..1300,
        ) {
            let sizes = SplitSizes { train_per_class: train, val_per_class: val, test_rows };
            let labels = builtin_labels();
            let head = labels.len() - test_rows;
            let rarest = (0..CLASSES)
                .map(|c| labels[..head].iter().filter(|&&l| l == c).count())
                .min()
                .unwrap();
            match SplitRows::of(labels, &sizes) {
                Ok(r) => {
                    prop_assert!(train + val <= rarest);
                    check_split(labels, &sizes, &r);
                }
                Err(e) => {
                    prop_assert!(train + val > rarest, "{e}");
                    prop_assert!(e.to_string().contains("train_per_class + val_per_class"));
                }
            }
        }
    }
}
