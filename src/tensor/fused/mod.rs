//! Fused CPU kernels for the backbones' hot chains: each forward and each
//! backward is one pass over its rows, on host buffers reused between calls
//! ([`Scratch`]), recorded on dfdx's tape as one op (design §8).
//!
//! dfdx builds each of these chains from many small element-wise ops, each
//! allocating and walking its own buffer. A kernel here takes dfdx CPU
//! tensors and gives one back, so a backbone swaps it in for the chain in
//! its CPU build; the CUDA build keeps dfdx's graph, which the tests here
//! hold each kernel to (values and gradients), beside central differences.
//!
//! ```
//! use meltr::dfdx::prelude::*;
//! use meltr::tensor::fused::layer_norm;
//! let dev = Cpu::default();
//! let x = dev.tensor([[1.0f32, 2.0, 3.0], [0.0, 0.0, 3.0]]).leaky_trace();
//! let (g, b) = (dev.tensor([1.0f32, 1.0, 1.0]), dev.tensor([0.0f32, 0.0, 0.5]));
//! let y = layer_norm(x, g.retaped(), b.retaped(), 1e-5);
//! let row = &y.as_vec()[..3];
//! assert!((row[0] + 1.2247).abs() < 1e-3 && row[1].abs() < 1e-6);
//! ```

mod bias;
mod conv;
mod cross_entropy;
mod flat_block;
mod im2col;
mod layer_norm;
mod linear;
mod matmul;
mod scratch;
mod softmax;
mod tape;
#[cfg(test)]
mod testing;

pub use bias::add_bias;
pub use conv::im2col_matmul;
pub use cross_entropy::cross_entropy_with_logits;
pub use flat_block::flat_block;
pub use im2col::im2col;
pub use layer_norm::layer_norm;
pub use linear::linear_of_constant;
pub use scratch::Scratch;
pub use softmax::scaled_softmax;
pub use tape::host_copy;
