//! Parallel writes into one buffer where every task writes its own, disjoint set of elements.
//!
//! Invariant the callers keep: no element is written by two tasks, nor read by one task while
//! another writes it, during the writer's lifetime. The writer borrows the buffer mutably for that
//! lifetime, so no safe code can touch it meanwhile.

use std::marker::PhantomData;

/// A shared handle for writing distinct elements of a buffer from several tasks.
#[derive(Debug)]
pub struct DisjointWriter<'a, T> {
    ptr: *mut T,
    len: usize,
    _buffer: PhantomData<&'a mut [T]>,
}

impl<T> Clone for DisjointWriter<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for DisjointWriter<'_, T> {}

// SAFETY: the handle is only a pointer and a length; tasks write through it under the contract of
// `write` / `ptr_at` (disjoint elements), so sharing it between threads is as safe as sending `&mut T`
// to each of them.
unsafe impl<T: Send> Send for DisjointWriter<'_, T> {}
// SAFETY: as for `Send`: concurrent use only ever touches disjoint elements.
unsafe impl<T: Send> Sync for DisjointWriter<'_, T> {}

impl<'a, T> DisjointWriter<'a, T> {
    /// A writer over the whole of `buffer`, which stays borrowed while the writer lives.
    pub fn new(buffer: &'a mut [T]) -> Self {
        Self { ptr: buffer.as_mut_ptr(), len: buffer.len(), _buffer: PhantomData }
    }

    /// Number of elements of the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `value` at `index` (checked against the length: out of range panics).
    ///
    /// # Safety
    /// No other task may write or read element `index` while the writer is in use.
    #[inline(always)]
    pub unsafe fn write(&self, index: usize, value: T) {
        assert!(index < self.len, "index {index} out of bounds for length {}", self.len);
        // SAFETY: in bounds (checked above); exclusive per the caller's contract.
        unsafe { self.ptr.add(index).write(value) };
    }

    /// A raw pointer to element `offset` (for kernels that write rows or tiles through pointers).
    /// Taking it is safe; writing through it is the caller's `unsafe`, which must keep the written
    /// range inside the buffer and disjoint from every other task's.
    #[inline(always)]
    pub fn ptr_at(&self, offset: usize) -> *mut T {
        debug_assert!(offset <= self.len, "offset {offset} past length {}", self.len);
        self.ptr.wrapping_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::DisjointWriter;

    #[test]
    fn tasks_fill_their_own_elements() {
        let mut out = vec![0u32; 1000];
        let w = DisjointWriter::new(&mut out);
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for i in (t..1000).step_by(4) {
                        // SAFETY: task `t` writes only indices ≡ t (mod 4): disjoint from the others.
                        unsafe { w.write(i, i as u32 * 2) };
                    }
                });
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32 * 2));
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_range_panics() {
        let mut out = vec![0u8; 4];
        let w = DisjointWriter::new(&mut out);
        // SAFETY: single task.
        unsafe { w.write(4, 1) };
    }
}
