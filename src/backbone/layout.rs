//! Where each named parameter tensor lives in the flat parameter vector.
//!
//! The backbone keeps all its parameters in one [`super::ParamVec`]; a
//! layout maps each name (`text.layer.attn.q.weight`, ...) to a shape and an
//! offset. Linear weights are stored `out x in`, as PyTorch does.

use crate::tensor::ParamBlock;
use std::collections::HashMap;

/// One named block and its position in the flat vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Name and shape.
    pub block: ParamBlock,
    /// Index of its first scalar.
    pub offset: usize,
}

/// The ordered list of named parameter blocks of a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    blocks: Vec<Placed>,
    index: HashMap<String, usize>,
    total: usize,
}

impl Layout {
    /// An empty layout.
    pub fn new() -> Layout {
        Layout::default()
    }

    /// Appends a block. Panics on a duplicate name (a programming error).
    pub fn push(&mut self, name: impl Into<String>, shape: &[usize]) {
        let name = name.into();
        assert!(
            !self.index.contains_key(&name),
            "duplicate parameter {name}"
        );
        let block = ParamBlock {
            name: name.clone(),
            shape: shape.to_vec(),
        };
        let n = block.len();
        self.index.insert(name, self.blocks.len());
        self.blocks.push(Placed {
            block,
            offset: self.total,
        });
        self.total += n;
    }

    /// The blocks in order.
    pub fn blocks(&self) -> &[Placed] {
        &self.blocks
    }

    /// The position of the block called `name` in [`Layout::blocks`].
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The block called `name`.
    pub fn get(&self, name: &str) -> Option<&Placed> {
        self.index.get(name).map(|&i| &self.blocks[i])
    }

    /// Total number of scalars.
    pub fn num_params(&self) -> usize {
        self.total
    }
}
