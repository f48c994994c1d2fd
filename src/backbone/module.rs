//! [`ModuleParams`]: any dfdx module's tensors as one flat [`ParamVec`] and
//! back, so nobody flattens parameters by hand.
//!
//! dfdx's `TensorCollection` visits every tensor of a module (in a fixed
//! order, with dotted names such as `0.weight`); this helper concatenates
//! them, writes a flat vector back into them, and gathers a backward pass's
//! gradients in the same order. It is what a model of your own needs to be
//! an [`crate::hypergrad::InnerModel`] or a [`super::Backbone`].
//!
//! ```
//! use meltr::backbone::ModuleParams;
//! use meltr::dfdx::prelude::*;
//! let dev = meltr::tensor::device();
//! let mut mlp = dev.build_module::<(Linear<3, 4>, ReLU, Linear<4, 2>), f32>();
//! let layout = ModuleParams::layout(&mlp);
//! assert_eq!(layout.num_params(), 3 * 4 + 4 + 4 * 2 + 2);
//! assert_eq!(layout.blocks()[0].block.name, "0.weight");
//! let w = ModuleParams::flatten(&mlp);
//! ModuleParams::unflatten(&mut mlp, &w.add_scaled(1.0, &w)).unwrap(); // doubles every weight
//! let x = dev.tensor([1.0, 2.0, 3.0]);
//! let loss = mlp.forward(x.leaky_trace()).sum();
//! let g = ModuleParams::gradient(&mlp, loss.backward());
//! assert_eq!(g.len(), w.len());
//! ```

use super::Layout;
use crate::error::Result;
use crate::tensor::Dev;
use crate::tensor::ParamVec;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;

/// Flattening helpers for a dfdx module; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ModuleParams;

/// Records names and shapes.
struct Names(Layout);

impl TensorVisitor<f32, Dev> for Names {
    type Viewer = ViewTensorName;
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Dev;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Dev>,
        name: String,
    ) -> std::result::Result<Option<Tensor<S, f32, Dev>>, Self::Err> {
        self.0.push(
            name,
            opts.shape
                .concrete()
                .into_iter()
                .collect::<Vec<_>>()
                .as_slice(),
        );
        Ok(None)
    }
}

/// Concatenates values on the host.
struct Gather(Vec<f32>);

impl TensorVisitor<f32, Dev> for Gather {
    type Viewer = ViewTensorRef;
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Dev;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Dev>,
        t: &Tensor<S, f32, Dev>,
    ) -> std::result::Result<Option<Tensor<S, f32, Dev>>, Self::Err> {
        self.0.extend(t.as_vec());
        Ok(None)
    }
}

/// Writes consecutive slices of a host vector into the tensors.
struct Scatter<'a> {
    values: &'a [f32],
    at: usize,
}

impl TensorVisitor<f32, Dev> for Scatter<'_> {
    type Viewer = ViewTensorMut;
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = Dev;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Dev>,
        t: &mut Tensor<S, f32, Dev>,
    ) -> std::result::Result<Option<Tensor<S, f32, Dev>>, Self::Err> {
        let n = t.shape().num_elements();
        t.copy_from(&self.values[self.at..self.at + n]);
        self.at += n;
        Ok(None)
    }
}

/// Collects each tensor's gradient (zeros where the loss did not reach it).
struct Grads {
    grads: Gradients<f32, Dev>,
    out: Vec<f32>,
}

impl TensorVisitor<f32, Dev> for Grads {
    type Viewer = ViewTensorRef;
    type Err = <Dev as HasErr>::Err;
    type E2 = f32;
    type D2 = Dev;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Dev>,
        t: &Tensor<S, f32, Dev>,
    ) -> std::result::Result<Option<Tensor<S, f32, Dev>>, Self::Err> {
        self.grads.try_alloc_for(t)?;
        self.out.extend(self.grads.get(t).as_vec());
        Ok(None)
    }
}

impl ModuleParams {
    /// The module's tensors as named blocks, in visiting order.
    pub fn layout<M: TensorCollection<f32, Dev>>(module: &M) -> Layout {
        let mut names = Names(Layout::new());
        let _ = module;
        let _ = M::iter_tensors(&mut RecursiveWalker {
            m: String::new(),
            f: &mut names,
        });
        names.0
    }

    /// All the module's values, concatenated in visiting order.
    pub fn flatten<M: TensorCollection<f32, Dev>>(module: &M) -> ParamVec {
        let mut g = Gather(Vec::new());
        let _ = M::iter_tensors(&mut RecursiveWalker {
            m: module,
            f: &mut g,
        });
        ParamVec::from_vec(&crate::tensor::device(), g.0)
    }

    /// Writes `w` (laid out as [`ModuleParams::flatten`]) into the module;
    /// errors on a wrong length or a non-finite value.
    pub fn unflatten<M: TensorCollection<f32, Dev>>(module: &mut M, w: &ParamVec) -> Result<()> {
        let n = Self::layout(module).num_params();
        w.check("module parameters", n)?;
        let values = w.to_vec();
        let mut s = Scatter {
            values: &values,
            at: 0,
        };
        let _ = M::iter_tensors(&mut RecursiveWalker {
            m: module,
            f: &mut s,
        });
        Ok(())
    }

    /// The gradient of a backward pass w.r.t. the module's tensors, flat
    /// (zero for a tensor the loss did not reach).
    pub fn gradient<M: TensorCollection<f32, Dev>>(
        module: &M,
        grads: Gradients<f32, Dev>,
    ) -> ParamVec {
        let mut g = Grads {
            grads,
            out: Vec::new(),
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: module,
            f: &mut g,
        })
        .expect("allocating a gradient buffer");
        ParamVec::from_vec(&crate::tensor::device(), g.out)
    }
}
