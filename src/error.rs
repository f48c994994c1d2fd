//! The crate's one error type: every failure names what, where, and expected vs found.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `meltr`, phrased for the person who caused it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        err: std::io::Error,
    },
    /// A weights file is not valid safetensors, or its header is malformed.
    #[error("{path}: not a valid weights file: {reason}")]
    BadWeightsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor the model needs is absent from a weights file.
    #[error("{path}: missing tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The reference parameter name.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
    },
    /// A weights file holds a tensor the model does not have.
    #[error("{path}: unexpected tensor `{name}` (shape {found:?}); expected only {known}")]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The unknown name.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The names the model has, comma separated.
        known: String,
    },
    /// A tensor has the wrong shape or dtype.
    #[error("{path}: tensor `{name}` has shape {found:?} ({dtype}), expected {expected:?} (F32)")]
    TensorShape {
        /// The file.
        path: PathBuf,
        /// The reference parameter name.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
        /// The shape it has.
        found: Vec<usize>,
        /// The dtype it has.
        dtype: String,
    },
    /// An input vector has the wrong length.
    #[error("{what}: expected {expected} values, found {found}")]
    Length {
        /// What the vector is (e.g. "losses").
        what: String,
        /// How many values were expected.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{what}: value #{index} is {value}, expected a finite number")]
    NonFinite {
        /// What the vector is.
        what: String,
        /// Zero-based position of the bad value.
        index: usize,
        /// The value itself.
        value: f32,
    },
    /// A setting is outside its allowed range.
    #[error("{field} = {value}: {reason}")]
    InvalidSetting {
        /// The setting's name.
        field: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A run file could not be parsed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A task name is not registered.
    #[error("unknown task `{name}`; known tasks: {known}")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// The registered names, comma separated.
        known: String,
    },
    /// A task's settings are invalid.
    #[error("task `{task}`: {message}")]
    TaskConfig {
        /// The task's name (or its position in the run file).
        task: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A task needs a part of the backbone that the backbone lacks.
    #[error("task `{task}` needs the backbone's `{needs}`, which this backbone does not have (it has: {has})")]
    TaskNotServed {
        /// The task's name.
        task: String,
        /// The missing part.
        needs: String,
        /// What the backbone offers, comma separated.
        has: String,
    },
    /// A task asked a backbone for a part it does not have (the task set
    /// reports it as [`Error::TaskNotServed`], naming the task).
    #[error("the backbone has no `{part}`")]
    MissingPart {
        /// The part asked for ([`crate::backbone::Part::NAME`]).
        part: &'static str,
    },
    /// A task needs an input that the batch does not carry.
    #[error("the batch has no {input}")]
    MissingInput {
        /// What is missing (e.g. "captions", "class labels").
        input: &'static str,
    },
    /// A weights file holds a NaN or infinite value.
    #[error("{path}: tensor `{name}` holds a non-finite value")]
    NonFiniteTensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A head cannot be exported to WebAssembly.
    #[error("cannot export the head: {reason}")]
    Export {
        /// Why.
        reason: String,
    },
    /// A file given to the viewer is not a usable head artifact; it was refused
    /// before any of its code ran.
    #[error("{origin}: refused: {reason}")]
    BadArtifact {
        /// The file (or `<bytes>`).
        origin: String,
        /// What is wrong with it, on one line.
        reason: String,
    },
    /// A call into a sandboxed artifact used up its fuel (it may loop forever).
    #[error("{origin}: `{call}` ran out of fuel after {fuel} units (an endless loop, or raise the fuel limit)")]
    OutOfFuel {
        /// The artifact.
        origin: String,
        /// The exported function called.
        call: String,
        /// The fuel it was given.
        fuel: u64,
    },
    /// A call into a sandboxed artifact trapped (or the artifact broke its contract).
    #[error("{origin}: `{call}` failed: {reason}")]
    ArtifactTrap {
        /// The artifact.
        origin: String,
        /// The exported function called.
        call: String,
        /// What happened, on one line.
        reason: String,
    },
    /// A tensor backend error (allocation, device).
    #[error("tensor backend: {0}")]
    Backend(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}

/// Checks that `values` has `expected` entries, all finite.
pub fn check_finite(what: &str, values: &[f32], expected: usize) -> Result<()> {
    if values.len() != expected {
        return Err(Error::Length {
            what: what.into(),
            expected,
            found: values.len(),
        });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            what: what.into(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// What is wrong with bytes that safetensors refused, in words: a cut-off
/// file says so instead of naming the parser's variant.
pub(crate) fn safetensors_reason(e: safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::MetadataIncompleteBuffer | E::HeaderTooSmall | E::InvalidHeaderLength => {
            format!("truncated, or not a safetensors file ({e:?})")
        }
        e => format!("not a safetensors file: {e}"),
    }
}
