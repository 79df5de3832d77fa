//! The entry points: dense layers on a packed weight ([`matmul_packed`], [`matmul_packed_serial`]),
//! products of row-major views ([`matmul`], [`matmul_rows`]) and strips of micro-tiles ([`micro_tiles`]).

use crate::driver::{gemm_core, Epilogue};
use crate::kernel::{tile, ATile, BTile, Init, MicroKernel, TileDims};
use crate::pack::{PackedWt, Panels, RowBlock};
use crate::view::{MatMut, MatRef, SharedMatMut, Strided, StridedMut};
use crate::NR;

/// `out[m, n] (epilogue) x[m, k] · Wᵀ`.
pub fn matmul_packed(x: &[f32], m: usize, w: &PackedWt, out: &mut [f32], epilogue: Epilogue) {
    let (n, k) = (w.n, w.k);
    assert!(x.len() >= m * k, "matmul_packed: x holds {} values, needs {m}×{k}", x.len());
    assert!(out.len() >= m * n, "matmul_packed: out holds {} values, needs {m}×{n}", out.len());
    if let Epilogue::Bias(b) | Epilogue::BiasMap(b, _) = epilogue {
        assert_eq!(b.len(), n, "matmul_packed: bias length");
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        let out = &mut out[..m * n];
        match epilogue {
            Epilogue::Overwrite => out.fill(0.0),
            Epilogue::Accumulate => {}
            Epilogue::Bias(b) | Epilogue::BiasMap(b, _) => {
                for r in out.chunks_exact_mut(n) {
                    r.copy_from_slice(b);
                    if let Epilogue::BiasMap(_, f) = epilogue {
                        f(r);
                    }
                }
            }
        }
        return;
    }
    let out = MatMut::dense(&mut out[..m * n], m, n).into_shared();
    // SAFETY: `out` is this call's alone (borrowed mutably); the packed weight gives k rows of n.
    unsafe { gemm_core(MatRef::dense(&x[..m * k], m, k), &Panels::Packed(w), out, epilogue, false) }
}

/// `c (+)= a · b` for row-major views, `a` [m × k], `b` [k × n], `c` [m × n] (each with its own row
/// stride); `accumulate = false` overwrites `c`. Parallel (rayon) for large products.
pub fn matmul(c: MatMut, a: MatRef, b: MatRef, accumulate: bool) {
    assert_eq!(b.cols(), c.cols(), "matmul: b has {} columns, c {}", b.cols(), c.cols());
    matmul_rows(c, a, &[RowBlock::from_mat(b)], accumulate)
}

/// [`matmul`] with the right operand `b` [k × n] given as blocks of rows, `k` = Σ rows = `a.cols()`,
/// `n` = `c.cols()`. The blocks may live anywhere, e.g. the shifted image planes of a convolution's
/// taps (an implicit im2col).
pub fn matmul_rows(mut c: MatMut, a: MatRef, b: &[RowBlock], accumulate: bool) {
    let (m, n) = (c.rows(), c.cols());
    let k: usize = b.iter().map(|blk| blk.rows).sum();
    assert_eq!(a.rows(), m, "matmul: a has {} rows, c {m}", a.rows());
    assert_eq!(a.cols(), k, "matmul: a has {} columns, b {k} rows", a.cols());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            (0..m).for_each(|i| c.row_mut(i).fill(0.0));
        }
        return;
    }
    for (i, blk) in b.iter().enumerate() {
        assert!(
            blk.rows == 0 || (blk.rows - 1) * blk.stride + blk.offset(n - 1) < blk.data.len(),
            "matmul: b block {i} holds {} values, needs ({} − 1)·{} + {} + 1",
            blk.data.len(),
            blk.rows,
            blk.stride,
            blk.offset(n - 1)
        );
    }
    let epilogue = if accumulate { Epilogue::Accumulate } else { Epilogue::Overwrite };
    // SAFETY: `c` is this call's alone (borrowed mutably); the blocks give k rows of n (asserted).
    unsafe { gemm_core(a, &Panels::Rows { blocks: b, n }, c.into_shared(), epilogue, false) }
}

/// `out (epilogue) x[m, k] · Wᵀ` on the calling thread, `out` an `m × w.n` block of a buffer that
/// other tasks write elsewhere (e.g. a column block of a wider matrix).
///
/// # Safety
/// No other thread may touch `out`'s block meanwhile.
pub unsafe fn matmul_packed_serial(x: &[f32], w: &PackedWt, out: SharedMatMut, epilogue: Epilogue) {
    let m = out.rows();
    assert!(x.len() >= m * w.k && out.cols() == w.n && w.k > 0, "matmul_packed_serial: extents");
    if m == 0 || w.n == 0 {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { gemm_core(MatRef::dense(&x[..m * w.k], m, w.k), &Panels::Packed(w), out, epilogue, true) }
}

/// `c (+)= a · b` in micro-tiles of the GEMM's micro-kernel, for callers that block themselves (the
/// attention tiles): `a` [rows × kc], `b` [kc × w], `c` [rows × w], `w` a multiple of [`NR`] = 16
/// (b's rows `ld` apart), computed [`MicroKernel::mr`] rows by [`MicroKernel::panels`] × 16 columns
/// at a time, each tile exactly as in the GEMM. The views are checked once per call.
#[inline]
pub fn micro_tiles(kernel: MicroKernel, a: MatRef, b: MatRef, mut c: MatMut, accumulate: bool) {
    let (rows, kc, w) = (a.rows(), a.cols(), b.cols());
    assert!(b.rows() == kc && w % NR == 0, "micro_tiles: b is {}×{w}, needs {kc}×(16·j)", b.rows());
    assert!(c.rows() == rows && c.cols() == w, "micro_tiles: c is {}×{}, needs {rows}×{w}", c.rows(), c.cols());
    if rows == 0 {
        return;
    }
    let init = if accumulate { Init::Dest } else { Init::Zero };
    let (a0, b0, c0) = (a.strided_at(0, 0), b.strided_at(0, 0), c.strided());
    let (mr, step) = (kernel.mr(), kernel.panels() * NR);
    for j in (0..w).step_by(step) {
        let cols = step.min(w - j);
        // Columns j..j+cols of `b`: one or two panels of 16, inside the view (checked above).
        let ptr = b0.ptr.wrapping_add(j);
        let bt = BTile { ptr, next: if cols > NR { ptr.wrapping_add(NR) } else { std::ptr::null() }, ld: b0.ld };
        for i in (0..rows).step_by(mr) {
            let dims = TileDims { rows: mr.min(rows - i), cols, kc };
            // Rows i.. of `a` and `c`: inside the views (checked by their constructors and above).
            let at = ATile::Rows(Strided { ptr: a0.ptr.wrapping_add(i * a0.ld), ld: a0.ld });
            let ct = StridedMut { ptr: c0.ptr.wrapping_add(i * c0.ld + j), ld: c0.ld };
            // SAFETY: the views hold the extents the tiles read and write; `c` is borrowed mutably.
            unsafe { tile(kernel, dims, at, bt, ct, init) }
        }
    }
}
