//! The weighted mean of a parameter vector with the sum over ranks done on
//! device buffers, for a transport that reads device memory (NCCL): only
//! the weights' total crosses through the host.

use super::Communicator;
use crate::error::Result;
use crate::tensor::{DeviceBuffer, ParamVec, Storage};

/// Replaces `values` with the mean over the ranks of each rank's `values`
/// weighted by its `weight`, as [`Communicator::all_reduce_weighted_mean`]
/// does, but with `sum(send, recv)` writing the element-wise sum over the
/// ranks of `send` into `recv` on the device. `host` carries the weights.
pub(crate) fn weighted_mean_on_device(
    host: &dyn Communicator,
    values: &mut ParamVec,
    weight: f32,
    sum: impl FnOnce(&mut Storage, &mut Storage) -> Result<()>,
) -> Result<()> {
    // Every rank holds the same length, so all return here together.
    if host.size() == 1 || values.is_empty() {
        return Ok(());
    }
    let mut total = [weight];
    host.all_reduce_sum(&mut total)?;
    values.scale(weight);
    let mut send = DeviceBuffer::copy_of(values)?;
    let mut recv = DeviceBuffer::zeros_like(values)?;
    sum(send.storage(), recv.storage())?;
    *values = recv.to_param_vec();
    values.scale(1.0 / total[0]);
    Ok(())
}

// The CPU build's storage is a host `Vec`: a local group sums it, standing
// in for NCCL, to check everything around the sum.
#[cfg(all(test, not(feature = "cuda")))]
mod tests {
    use super::*;
    use crate::distributed::LocalGroup;
    use crate::tensor::device;

    #[test]
    fn matches_the_host_weighted_mean_on_every_rank() {
        let results = LocalGroup::run(3, |c| {
            let r = c.rank() as f32;
            let local: Vec<f32> = (0..7).map(|i| (i as f32 - 3.0) * (r + 0.3)).collect();
            let weight = r + 1.0;
            let mut on_device = ParamVec::from_vec(&device(), local.clone());
            weighted_mean_on_device(&c, &mut on_device, weight, |send, recv| {
                recv.copy_from_slice(send);
                c.all_reduce_sum(recv)
            })
            .unwrap();
            let mut on_host = ParamVec::from_vec(&device(), local);
            c.all_reduce_weighted_mean_params(&mut on_host, weight)
                .unwrap();
            (on_device.to_vec(), on_host.to_vec())
        });
        for (d, h) in results {
            // Means of (i − 3)(r + 0.3) over r = 0, 1, 2 with weights 1, 2, 3.
            let expect: Vec<f32> = (0..7)
                .map(|i| (i as f32 - 3.0) * (0.3 + 2.0 * 1.3 + 3.0 * 2.3) / 6.0)
                .collect();
            for ((d, h), e) in d.iter().zip(&h).zip(&expect) {
                assert!((d - e).abs() < 1e-5 && (d - h).abs() < 1e-6, "{d} {h} {e}");
            }
        }
    }

    #[test]
    fn one_rank_leaves_the_values_alone() {
        let c = crate::distributed::SingleProcess;
        let mut v = ParamVec::from_vec(&device(), vec![1.0, 2.0]);
        weighted_mean_on_device(&c, &mut v, 5.0, |_, _| panic!("no sum with one rank")).unwrap();
        assert_eq!(v.to_vec(), vec![1.0, 2.0]);
    }
}
