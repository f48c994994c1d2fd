//! Everything a task crate needs, in one import: `use meltr::prelude::*;`
//! (see [`crate::aux_task`] for a whole task). The tensor operations come
//! from [`dfdx::prelude`]; the names below take precedence over its.

pub use super::register_task;
pub use crate::aux_task::{
    diagonal_cross_entropy, gather_rows, gather_uneven_rows, info_nce, invalid, mean_over_terms,
    soft_cross_entropy, symmetric_info_nce, task_rng, whole_batch_loss, Coupling, Task,
};
pub use crate::backbone::parts::*;
pub use crate::backbone::{
    AnyTape, Batch, Feats, Free, Labels, Loss, Net, Part, PartId, PartList, Request, Taped, Text,
    Visual,
};
pub use crate::error::{Error, Result};
pub use crate::tensor::Dev;
pub use dfdx::prelude::*;
pub use rand::Rng;
pub use serde::Deserialize;
