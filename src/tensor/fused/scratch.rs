//! Host buffers kept between calls: a kernel takes one for its output or
//! for what its backward needs, and the buffer goes back to this thread's
//! pool when dropped, so a steady training loop allocates nothing here.

use std::cell::RefCell;

/// Buffers a thread keeps at most; beyond this, returned buffers are freed
/// (the smallest first), so an odd batch size cannot grow the pool.
const KEEP: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A host buffer of `len` values from this thread's pool; see the module docs.
#[derive(Debug)]
pub struct Scratch(Vec<f32>);

impl Scratch {
    /// A buffer of `len` values, uninitialised in meaning (its contents are
    /// whatever the last user left, or zeros): the caller writes every value.
    pub fn take(len: usize) -> Scratch {
        let reused = POOL.with(|p| {
            let mut p = p.borrow_mut();
            // The smallest buffer that fits, so big ones stay for big calls.
            let best = p
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i)?;
            Some(p.swap_remove(best))
        });
        let mut v = reused.unwrap_or_else(|| Vec::with_capacity(len));
        v.resize(len, 0.0);
        Scratch(v)
    }

    /// A buffer of `len` zeros.
    pub fn zeros(len: usize) -> Scratch {
        let mut s = Scratch::take(len);
        s.0.fill(0.0);
        s
    }

    /// Frees every buffer this thread keeps (e.g. after a phase with other shapes).
    pub fn release_all() {
        POOL.with(|p| p.borrow_mut().clear());
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.capacity() == 0 {
            return;
        }
        // `try_with`: a buffer dropped while the thread exits is just freed.
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            p.push(v);
            if p.len() > KEEP {
                let smallest = (0..p.len()).min_by_key(|&i| p[i].capacity()).unwrap();
                p.swap_remove(smallest);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_and_sized() {
        let ptr = {
            let s = Scratch::zeros(1000);
            assert_eq!(s.len(), 1000);
            assert!(s.iter().all(|&x| x == 0.0));
            s.as_ptr()
        };
        let s = Scratch::take(500);
        assert_eq!(s.len(), 500);
        assert_eq!(s.as_ptr(), ptr, "the pooled buffer serves a smaller call");
    }
}
