//! Matrix views: a row-major block of `rows × cols` values whose rows are `ld` values apart, read
//! from a slice ([`MatRef`]), written into a slice ([`MatMut`]) or written by several tasks into one
//! shared buffer ([`SharedMatMut`]). Each constructor checks the block lies inside its buffer, so the
//! kernels below may address it through pointers.

use worldflow_base::DisjointWriter;

/// Panics unless a `rows × cols` block with row stride `ld` fits in `len` values (rows must not
/// overlap: `ld ≥ cols` unless there is at most one row).
#[track_caller]
fn check_extent(what: &str, len: usize, rows: usize, cols: usize, ld: usize) {
    assert!(rows <= 1 || ld >= cols, "{what}: row stride {ld} is shorter than a row of {cols} values");
    if rows > 0 && cols > 0 {
        let need = (rows - 1) * ld + cols;
        assert!(need <= len, "{what}: {len} values, a {rows}×{cols} block with row stride {ld} needs {need}");
    }
}

/// A row-major `rows × cols` matrix read from a slice: element (i, j) at `data[i·ld + j]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    ld: usize,
}

impl<'a> MatRef<'a> {
    /// A view of `rows × cols` values, rows `ld` apart. Panics when it does not fit in `data`.
    #[track_caller]
    pub fn new(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Self {
        check_extent("MatRef", data.len(), rows, cols, ld);
        MatRef { data, rows, cols, ld }
    }

    /// Contiguous rows (`ld = cols`).
    #[track_caller]
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between rows, in values.
    pub fn ld(&self) -> usize {
        self.ld
    }

    /// The underlying values (from element (0, 0) on).
    pub(crate) fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Element (i, j) and its successors as pointer + row stride (for the micro-kernel).
    pub(crate) fn strided_at(&self, i: usize, j: usize) -> Strided {
        Strided { ptr: self.data[i * self.ld + j..].as_ptr(), ld: self.ld }
    }
}

/// A row-major `rows × cols` matrix written into a slice: element (i, j) at `data[i·ld + j]`; the
/// values between rows (from `cols` to `ld`) are not touched.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    ld: usize,
}

impl<'a> MatMut<'a> {
    /// A view of `rows × cols` values, rows `ld` apart. Panics when it does not fit in `data`.
    #[track_caller]
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, ld: usize) -> Self {
        check_extent("MatMut", data.len(), rows, cols, ld);
        MatMut { data, rows, cols, ld }
    }

    /// Contiguous rows (`ld = cols`).
    #[track_caller]
    pub fn dense(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between rows, in values.
    pub fn ld(&self) -> usize {
        self.ld
    }

    /// Row `i` (its `cols` values).
    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.ld..i * self.ld + self.cols]
    }

    /// Element (0, 0) and its successors as pointer + row stride (for the micro-kernel).
    pub(crate) fn strided(&mut self) -> StridedMut {
        StridedMut { ptr: self.data.as_mut_ptr(), ld: self.ld }
    }

    /// The same block, to be written by several tasks at once.
    pub(crate) fn into_shared(self) -> SharedMatMut<'a> {
        let (rows, cols, ld) = (self.rows, self.cols, self.ld);
        SharedMatMut::new(DisjointWriter::new(self.data), 0, rows, cols, ld)
    }
}

/// A row-major `rows × cols` block of a buffer that several tasks write at once, each its own
/// elements: element (i, j) at `offset + i·ld + j` of the writer's buffer.
#[derive(Clone, Copy, Debug)]
pub struct SharedMatMut<'a> {
    out: DisjointWriter<'a, f32>,
    offset: usize,
    rows: usize,
    cols: usize,
    ld: usize,
}

impl<'a> SharedMatMut<'a> {
    /// The block at `offset` of `out`'s buffer. Panics when it does not fit in the buffer.
    #[track_caller]
    pub fn new(out: DisjointWriter<'a, f32>, offset: usize, rows: usize, cols: usize, ld: usize) -> Self {
        let len =
            out.len().checked_sub(offset).unwrap_or_else(|| panic!("SharedMatMut: offset {offset} past the buffer"));
        check_extent("SharedMatMut", len, rows, cols, ld);
        SharedMatMut { out, offset, rows, cols, ld }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between rows, in values.
    pub fn ld(&self) -> usize {
        self.ld
    }

    /// Element (i, j) and its successors as pointer + row stride. Writing through it is the
    /// caller's `unsafe`: inside the block, and only elements no other task touches.
    pub(crate) fn strided_at(&self, i: usize, j: usize) -> StridedMut {
        StridedMut { ptr: self.out.ptr_at(self.offset + i * self.ld + j), ld: self.ld }
    }
}

/// Rows of values `ld` apart from `ptr`, read by the micro-kernel (extents are the caller's contract).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Strided {
    pub(crate) ptr: *const f32,
    pub(crate) ld: usize,
}

/// Rows of values `ld` apart from `ptr`, written by the micro-kernel (extents are the caller's contract).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StridedMut {
    pub(crate) ptr: *mut f32,
    pub(crate) ld: usize,
}

impl StridedMut {
    /// Row `r`, `cols` values, as a slice.
    ///
    /// # Safety
    /// Those values must be inside the caller's block and touched by no one else meanwhile.
    pub(crate) unsafe fn row<'a>(self, r: usize, cols: usize) -> &'a mut [f32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r * self.ld), cols) }
    }
}
