//! Parallel scatter into one buffer where every task writes its own, disjoint set of indices.

use std::marker::PhantomData;

/// A shared handle for writing distinct elements of a slice from several tasks.
#[derive(Clone, Copy)]
pub(crate) struct DisjointWriter<'a, T> {
    ptr: *mut T,
    len: usize,
    _slice: PhantomData<&'a mut [T]>,
}

// SAFETY: tasks only write through `write`, whose contract forbids two writes to one index.
unsafe impl<T: Send> Send for DisjointWriter<'_, T> {}
unsafe impl<T: Send> Sync for DisjointWriter<'_, T> {}

impl<'a, T: Copy> DisjointWriter<'a, T> {
    pub fn new(slice: &'a mut [T]) -> Self {
        Self { ptr: slice.as_mut_ptr(), len: slice.len(), _slice: PhantomData }
    }

    /// Writes `value` at `index` (checked against the length).
    ///
    /// # Safety
    /// No other task may write or read `index` while the writer is in use.
    #[inline(always)]
    pub unsafe fn write(&self, index: usize, value: T) {
        assert!(index < self.len, "index {index} out of bounds for length {}", self.len);
        // SAFETY: in bounds (checked above); exclusive per the caller's contract.
        unsafe { *self.ptr.add(index) = value };
    }
}
