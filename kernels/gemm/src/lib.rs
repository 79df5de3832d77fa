//! f32 GEMM for the neural engines (worldflow-dit, worldflow-vae), one micro-kernel for all of it:
//! - [`matmul_packed`]: dense layers `out[m, n] = x[m, k] · Wᵀ` with an epilogue (bias, a row map such
//!   as GELU, accumulate), the weight `W` [n, k] packed once at load time;
//! - [`matmul`]: `C (+)= A · B` on row-major operands with row strides;
//! - [`matmul_rows`]: the same with `B` given as blocks of rows anywhere (a convolution's taps);
//! - [`micro_tile`]: one 6 × 16 tile, for callers that do their own blocking (flash attention).
//!
//! Layout and blocking (GotoBLAS-style, specialised for the transformer's and the VAE's shapes):
//! - `B` in panels of [`NR`] = 16 columns, `[k][16]` with 64-byte rows, so the micro-kernel streams one
//!   cache line per step of `k`: [`PackedWt`] holds a weight that way for good; other `B`s are copied
//!   one (k block, panel) at a time.
//! - `A` in micro-panels of [`MR`] = 6 rows, `[k][6]`, so a step's 6 broadcasts read one 24-byte run
//!   (from 6 rows far apart they cost a quarter of the throughput); read in place where too few
//!   panels would reuse the copy.
//! - `k` in blocks of [`KC`] = 256 (a 16 KiB panel stays in L1 while the task's micro-panels stream
//!   past it); tasks are row ranges (or column ranges for few rows), run with rayon; what several
//!   tasks would copy alike is copied once and shared.
//! - Micro-kernel: 6 × 16 tile in 12 AVX2 registers, 2 loads of `B` and 6 broadcasts of `A` per 12
//!   FMAs (compiled with `avx2,fma`, selected at run time); a portable version of the same loop
//!   elsewhere. Summation order per output: `k` in order, one FMA at a time (bias first when
//!   given), so results do not depend on the thread count.

use rayon::prelude::*;

/// Whether the AVX2 + FMA kernels can run on this CPU (detected once, cached by std).
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Output columns per panel.
pub const NR: usize = 16;
/// Rows per micro-tile.
pub const MR: usize = 6;
/// Depth of one `k` block.
pub const KC: usize = 256;

/// One step of `k` of a panel: 16 weights, one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct PanelRow([f32; NR]);

/// A weight `[n, k]` (PyTorch `Linear.weight` order) packed for [`matmul_packed`].
#[derive(Clone, Debug, Default)]
pub struct PackedWt {
    pub n: usize,
    pub k: usize,
    /// `[n/16 rounded up][k]` rows of 16 columns (zero beyond `n`).
    rows: Vec<PanelRow>,
}

impl PackedWt {
    /// Packs a row-major `[n, k]` weight.
    pub fn pack(w: &[f32], n: usize, k: usize) -> Self {
        let mut packed = PackedWt::default();
        packed.pack_from(w, n, k);
        packed
    }

    /// Packs a row-major `[n, k]` weight into this one, reusing its allocation.
    pub fn pack_from(&mut self, w: &[f32], n: usize, k: usize) {
        assert_eq!(w.len(), n * k, "PackedWt::pack: weight is not [n, k]");
        (self.n, self.k) = (n, k);
        self.rows.clear();
        self.rows.resize(n.div_ceil(NR) * k, PanelRow::default());
        for (j, panel) in self.rows.chunks_exact_mut(k.max(1)).enumerate() {
            for c in 0..NR.min(n - j * NR) {
                let wr = &w[(j * NR + c) * k..(j * NR + c + 1) * k];
                for (p, v) in wr.iter().enumerate() {
                    panel[p].0[c] = *v;
                }
            }
        }
    }

    /// The weight back in `[n, k]` order.
    pub fn unpack(&self) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        let mut w = vec![0.0; n * k];
        for (r, wr) in w.chunks_exact_mut(k.max(1)).enumerate() {
            let panel = &self.rows[(r / NR) * k..(r / NR + 1) * k];
            for (p, v) in wr.iter_mut().enumerate() {
                *v = panel[p].0[r % NR];
            }
        }
        w
    }

    pub fn bytes(&self) -> usize {
        self.rows.len() * std::mem::size_of::<PanelRow>()
    }
}

/// What the GEMM does with the product `x · Wᵀ` before writing `out`.
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    /// `out = x·Wᵀ`.
    Overwrite,
    /// `out += x·Wᵀ`.
    Accumulate,
    /// `out = x·Wᵀ + bias` (`bias` [n]).
    Bias(&'a [f32]),
    /// `out = f(x·Wᵀ + bias)`, `f` applied to each finished row segment (e.g. an activation).
    BiasMap(&'a [f32], fn(&mut [f32])),
}

/// How a micro-tile's accumulators start.
#[derive(Clone, Copy)]
enum Init {
    Zero,
    /// From the destination (accumulate, or a later `k` block).
    Dest,
    /// From `bias[col..col + 16]`.
    Bias(*const f32),
}

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
    // SAFETY: `out` holds m·n values (asserted above), `x` m rows of k.
    unsafe { gemm_core(x, k, m, k, n, &Panels::Packed(w), out.as_mut_ptr(), n, epilogue, false) }
}

/// The right operand of [`gemm_core`], one `[kc][16]` panel at a time.
enum Panels<'a, 'b> {
    /// Already packed (a dense layer's weight): panels are read in place.
    Packed(&'a PackedWt),
    /// Row blocks of `b` with `n` columns, copied into contiguous panel rows one `k` block of panels at a
    /// time ([`Panels::copy`]).
    Rows { blocks: &'a [RowBlock<'b>], n: usize },
}

/// `dst ← src` for at most 16 values as constant-size pieces of 16, 8, 4, 2, 1 (each a register move or
/// two; a `memmove` call per short run cost more than the copy).
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    let n = src.len();
    debug_assert!(n <= NR && dst.len() == n);
    if n == NR {
        dst.copy_from_slice(&src[..NR]);
        return;
    }
    let mut i = 0;
    for piece in [8, 4, 2, 1] {
        if n - i >= piece {
            dst[i..i + piece].copy_from_slice(&src[i..i + piece]);
            i += piece;
        }
    }
}

/// Distance between copied panels in a buffer: one panel (`KC` rows of 16) plus one cache line, so
/// that the same row of consecutive panels does not fall into one L1 set.
const PANEL_SLOT: usize = KC * NR + NR;

/// Panels per copy in a column task (≈ 512 KiB, within L2).
const COPY_PANELS: usize = 32;

impl Panels<'_, '_> {
    /// Rows `kb..kb + kc` of panels `j0..j1` into `out`, panel `j` at `(j − j0)·PANEL_SLOT`, as rows of
    /// 16 values (zero past `n`). `Rows` only: a packed weight is read in place. Each source row is read
    /// once, left to right, so the hardware prefetcher streams it.
    fn copy(&self, kb: usize, kc: usize, j0: usize, j1: usize, out: &mut [f32]) {
        let Panels::Rows { blocks, n } = self else { unreachable!("packed weights are read in place") };
        let (c0, c1) = (j0 * NR, (j1 * NR).min(*n));
        // Row kb of b: block `bi`, row `r` in it.
        let (mut bi, mut r) = (0, kb);
        while r >= blocks[bi].rows {
            (r, bi) = (r - blocks[bi].rows, bi + 1);
        }
        for p in 0..kc {
            while r == blocks[bi].rows {
                (bi, r) = (bi + 1, 0);
            }
            let blk = &blocks[bi];
            let base = r * blk.stride;
            // Runs of contiguous columns (one per image row at most), cut at panel boundaries.
            let mut c = c0;
            while c < c1 {
                let (cc, run) = (c - c0, (blk.width - c % blk.width).min(c1 - c));
                let src = &blk.data[base + blk.offset(c)..][..run];
                let mut done = 0;
                while done < run {
                    let (jj, lane) = ((cc + done) / NR, (cc + done) % NR);
                    let len = (NR - lane).min(run - done);
                    let dst = &mut out[jj * PANEL_SLOT + p * NR + lane..][..len];
                    let seg = &src[done..done + len];
                    copy_short(dst, seg);
                    done += len;
                }
                c += run;
            }
            let tail = (c1 - c0) % NR;
            if tail != 0 {
                out[((c1 - c0) / NR) * PANEL_SLOT + p * NR + tail..][..NR - tail].fill(0.0);
            }
            r += 1;
        }
    }
}

/// Where a task's micro-tiles read `a` from in one `k` block.
#[derive(Clone, Copy)]
enum ASource<'a> {
    /// Rows of `a` in place, `lda` apart.
    InPlace(&'a [f32], usize),
    /// Packed micro-panels ([`pack_a`]) of rows `r0..`: micro-panel g at `g·kc·MR`.
    Packed(&'a [f32], usize),
}

/// The left operand of one product and, when column tasks share it, all of it packed up front.
struct AOperand<'a> {
    a: &'a [f32],
    lda: usize,
    micro_rows: usize,
    /// [`pack_a`] of every `k` block over all rows: block `kb` at `kb·micro_rows·MR`.
    shared: Option<Vec<f32>>,
}

impl<'a> AOperand<'a> {
    /// Packs all of `a` ([m × k]) once, for tasks that each need every row.
    fn with_shared(self, m: usize, k: usize) -> Self {
        let mut all = Vec::with_capacity(self.micro_rows * MR * k);
        let mut block = Vec::new();
        for kb in (0..k).step_by(KC) {
            pack_a(self.a, self.lda, 0, m, kb, KC.min(k - kb), &mut block);
            all.extend_from_slice(&block);
        }
        AOperand { shared: Some(all), ..self }
    }

    /// Where rows `r0..r1` come from in the `k` block `kb..kb + kc`, for a task over `span` panels: the
    /// shared packing, a packing into `buf` when enough panels reuse it ([`PACK_A_MIN_PANELS`]), or
    /// the rows in place.
    fn source<'s>(
        &'s self,
        r0: usize,
        r1: usize,
        span: usize,
        kb: usize,
        kc: usize,
        buf: &'s mut Vec<f32>,
    ) -> ASource<'s> {
        match &self.shared {
            Some(all) => ASource::Packed(&all[kb * self.micro_rows * MR..], 0),
            None if span >= PACK_A_MIN_PANELS => {
                pack_a(self.a, self.lda, r0, r1, kb, kc, buf);
                ASource::Packed(buf, r0)
            }
            None => ASource::InPlace(self.a, self.lda),
        }
    }
}

/// The fixed arguments of one product.
struct Product<'a> {
    k: usize,
    n: usize,
    c: SharedDst,
    ldc: usize,
    ep: Epilogue<'a>,
    avx2: bool,
}

impl Product<'_> {
    /// Rows `r0..r1` × panels `j0..j1` for the `k` block `kb..kb + kc`, panel `j` from `panel(j)`.
    ///
    /// # Safety
    /// That block of `c` must be the caller's alone; `a` and the panels must hold the values described.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block(
        &self,
        r0: usize,
        r1: usize,
        j0: usize,
        j1: usize,
        kb: usize,
        kc: usize,
        a: ASource,
        mut panel: impl FnMut(usize) -> *const f32,
    ) {
        let last = kb + kc == self.k;
        for j in j0..j1 {
            let (col, cols) = (j * NR, NR.min(self.n - j * NR));
            let bp = panel(j);
            let init = match (kb, self.ep) {
                (0, Epilogue::Overwrite) => Init::Zero,
                (0, Epilogue::Bias(bias) | Epilogue::BiasMap(bias, _)) => Init::Bias(bias[col..].as_ptr()),
                _ => Init::Dest,
            };
            for (g, i) in (r0..r1).step_by(MR).enumerate() {
                let rows = MR.min(r1 - i);
                let (ap, ld) = match a {
                    ASource::InPlace(a, lda) => (a[i * lda + kb..].as_ptr(), lda),
                    ASource::Packed(p, row0) => (p[(g + (r0 - row0) / MR) * kc * MR..].as_ptr(), PACKED_A),
                };
                // Rows i..i+rows, columns col..col+cols of `c`: the caller's (contract).
                let cp = self.c.at(i * self.ldc + col);
                // SAFETY: `ap` is a packed micro-panel of kc steps or `rows` rows of `a` from
                // column kb; `bp` holds kc rows of 16 (contract).
                unsafe { tile(self.avx2, rows, kc, ap, ld, bp, NR, cp, self.ldc, cols, init) };
                if let (true, Epilogue::BiasMap(_, f)) = (last, self.ep) {
                    for r in 0..rows {
                        // SAFETY: as above.
                        f(unsafe { std::slice::from_raw_parts_mut(cp.add(r * self.ldc), cols) });
                    }
                }
            }
        }
    }
}

/// `c[m × n] (epilogue) a[m × k] · b[k × n]`: the blocked loop behind every entry point.
///
/// Tasks (rayon, unless `serial`) are row or column ranges ([`split`]), `k` walked in blocks of
/// [`KC`], each task's panels, then its rows in micro-tiles. Whatever several tasks would copy
/// alike is copied once and shared: with column tasks the packed `a` ([`pack_a`], all of it up
/// front); with row tasks over copied panels of `b`, each `k` block's panels (packed in parallel,
/// then computed). `a` is read in place when too few panels would reuse a packed copy
/// ([`PACK_A_MIN_PANELS`]).
///
/// # Safety
/// `c` must address `(m − 1)·ldc + n` values that no other thread touches; `a` holds `m` rows of `k`
/// values `lda` apart; `b` gives `k` rows of `n` values.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_core(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    n: usize,
    b: &Panels,
    c: *mut f32,
    ldc: usize,
    ep: Epilogue,
    serial: bool,
) {
    let panels = n.div_ceil(NR);
    let (row_parts, col_parts) = if serial { (1, 1) } else { split(m, panels, 2 * m * n * k) };
    let micro_rows = m.div_ceil(MR);
    let row_range =
        |ri: usize| ((micro_rows * ri / row_parts * MR).min(m), (micro_rows * (ri + 1) / row_parts * MR).min(m));
    let col_range = |ci: usize| (panels * ci / col_parts, panels * (ci + 1) / col_parts);
    let pr = Product { k, n, c: SharedDst(c), ldc, ep, avx2: has_avx2() };
    let a_op = AOperand { a, lda, micro_rows, shared: None };

    if row_parts > 1 && matches!(b, Panels::Rows { .. }) {
        // Row tasks over copied panels: per k block, copy every panel once, then all row tasks.
        let mut shared_b = vec![0.0f32; panels * PANEL_SLOT];
        let per_task = panels.div_ceil(rayon::current_num_threads());
        for kb in (0..k).step_by(KC) {
            let kc = KC.min(k - kb);
            shared_b.par_chunks_mut(per_task * PANEL_SLOT).enumerate().for_each(|(t, buf)| {
                let j0 = t * per_task;
                b.copy(kb, kc, j0, (j0 + per_task).min(panels), buf);
            });
            let shared_b = &shared_b;
            (0..row_parts).into_par_iter().for_each(|ri| {
                let (r0, r1) = row_range(ri);
                if r0 >= r1 {
                    return;
                }
                A_PACK.with(|cell| {
                    let apack = &mut *cell.borrow_mut();
                    let src = a_op.source(r0, r1, panels, kb, kc, apack);
                    // SAFETY: rows r0..r1 are this task's; the shared panels hold kc rows of 16.
                    unsafe { pr.block(r0, r1, 0, panels, kb, kc, src, |j| shared_b[j * PANEL_SLOT..].as_ptr()) };
                });
            });
        }
        return;
    }

    // Column tasks would each pack the same rows of `a`: pack them once here instead.
    let a_op = if col_parts > 1 && panels >= PACK_A_MIN_PANELS { a_op.with_shared(m, k) } else { a_op };
    let task = |t: usize| {
        let ((r0, r1), (j0, j1)) = (row_range(t / col_parts), col_range(t % col_parts));
        if r0 >= r1 || j0 >= j1 {
            return;
        }
        A_PACK.with(|cell| {
            let apack = &mut *cell.borrow_mut();
            let mut bbuf = vec![0.0f32; if matches!(b, Panels::Rows { .. }) { COPY_PANELS * PANEL_SLOT } else { 0 }];
            for kb in (0..k).step_by(KC) {
                let kc = KC.min(k - kb);
                let src = a_op.source(r0, r1, j1 - j0, kb, kc, apack);
                match b {
                    Panels::Packed(w) => {
                        let panel = |j: usize| w.rows[j * w.k + kb..].as_ptr().cast::<f32>();
                        // SAFETY: rows r0..r1 × panels j0..j1 are this task's; a packed panel holds
                        // kc rows of 16 from kb.
                        unsafe { pr.block(r0, r1, j0, j1, kb, kc, src, panel) };
                    }
                    Panels::Rows { .. } => {
                        for c0 in (j0..j1).step_by(COPY_PANELS) {
                            let c1 = (c0 + COPY_PANELS).min(j1);
                            b.copy(kb, kc, c0, c1, &mut bbuf);
                            let bbuf = &bbuf;
                            // SAFETY: as above; the copied panels hold kc rows of 16.
                            unsafe {
                                pr.block(r0, r1, c0, c1, kb, kc, src, |j| bbuf[(j - c0) * PANEL_SLOT..].as_ptr())
                            };
                        }
                    }
                }
            }
        });
    };
    let tasks = row_parts * col_parts;
    if tasks == 1 {
        task(0);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// `c[m × n] (+)= a[m × k] · b[k × n]`, all row-major with row strides `ldc`, `lda`, `ldb` (in values);
/// `accumulate = false` overwrites `c`. Parallel (rayon) for large products.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    ldc: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    if k > 0 && n > 0 {
        assert!((k - 1) * ldb + n <= b.len(), "matmul: b holds {} values, needs ({k} − 1)·{ldb} + {n}", b.len());
    }
    matmul_rows(c, ldc, a, lda, &[RowBlock::new(b, ldb, k)], m, n, accumulate)
}

/// `rows` consecutive rows of the right operand of [`matmul_rows`]. Column `c` of row `r` is
/// `data[r·stride + (c / width)·pitch + c % width]`: the columns may be the pixels of an image whose
/// rows are `pitch` apart (a convolution reads a padded frame but writes only the `width` real
/// pixels of each row); [`RowBlock::new`] has no such wrap.
#[derive(Clone, Copy, Debug)]
pub struct RowBlock<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub rows: usize,
    pub width: usize,
    pub pitch: usize,
}

impl<'a> RowBlock<'a> {
    /// Rows `stride` apart, columns contiguous.
    pub fn new(data: &'a [f32], stride: usize, rows: usize) -> Self {
        RowBlock { data, stride, rows, width: usize::MAX, pitch: 0 }
    }

    /// Rows `stride` apart, each an image of rows of `width` pixels `pitch` apart.
    pub fn image(data: &'a [f32], stride: usize, rows: usize, width: usize, pitch: usize) -> Self {
        assert!(width > 0 && pitch >= width, "RowBlock::image: width {width}, pitch {pitch}");
        RowBlock { data, stride, rows, width, pitch }
    }

    /// Offset of column `c` within a row.
    fn offset(&self, c: usize) -> usize {
        (c / self.width) * self.pitch + c % self.width
    }
}

/// [`matmul`] with the right operand `b` [k × n] given as blocks of rows, `k` = Σ rows. The blocks may
/// live anywhere, e.g. the shifted image planes of a convolution's taps (an implicit im2col).
#[allow(clippy::too_many_arguments)]
pub fn matmul_rows(
    c: &mut [f32],
    ldc: usize,
    a: &[f32],
    lda: usize,
    b: &[RowBlock],
    m: usize,
    n: usize,
    accumulate: bool,
) {
    let k: usize = b.iter().map(|blk| blk.rows).sum();
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * ldc + n <= c.len(), "matmul: c holds {} values, needs ({m} − 1)·{ldc} + {n}", c.len());
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc.max(1)).take(m).for_each(|r| r[..n].fill(0.0));
        }
        return;
    }
    assert!((m - 1) * lda + k <= a.len(), "matmul: a holds {} values, needs ({m} − 1)·{lda} + {k}", a.len());
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
    // SAFETY: extents asserted above.
    unsafe { gemm_core(a, lda, m, k, n, &Panels::Rows { blocks: b, n }, c.as_mut_ptr(), ldc, epilogue, false) }
}

/// `out (epilogue) x[m, k] · Wᵀ` on the calling thread, `out` rows `ldc` ≥ `w.n` apart (a column
/// block of a wider matrix).
///
/// # Safety
/// `out` must address `(m − 1)·ldc + w.n` values and no other thread may touch them.
pub unsafe fn matmul_packed_serial(x: &[f32], m: usize, w: &PackedWt, out: *mut f32, ldc: usize, epilogue: Epilogue) {
    assert!(x.len() >= m * w.k && ldc >= w.n && w.k > 0, "matmul_packed_serial: extents");
    // SAFETY: forwarded from the caller.
    unsafe { gemm_core(x, w.k, m, w.k, w.n, &Panels::Packed(w), out, ldc, epilogue, true) }
}

/// `c[rows × 16] (+)= a[rows × kc] · b[kc × 16]` for `rows` ≤ [`MR`], with the GEMM's micro-kernel
/// (rows of `a`, `b`, `c` are `lda`, `ldb`, `ldc` values apart); used by the attention tiles.
///
/// # Safety
/// `a` must address `rows` rows of `kc` values, `b` `kc` rows of 16 and `c` `rows` rows of 16.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn micro_tile(
    avx2: bool,
    rows: usize,
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    debug_assert!((1..=MR).contains(&rows));
    assert!(lda != PACKED_A, "micro_tile: lda must be at least 1");
    let init = if accumulate { Init::Dest } else { Init::Zero };
    // SAFETY: forwarded from the caller.
    unsafe { tile(avx2, rows, kc, a, lda, b, ldb, c, ldc, NR, init) }
}

/// Row and column parts for a product of `flops`: one task when small, else about four per thread,
/// along the dimension with more tiles (each row part reuses every panel of `b`; each column part
/// every row of `a`).
fn split(m: usize, panels: usize, flops: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads();
    if flops < 2_000_000 || threads == 1 {
        return (1, 1);
    }
    let want = 4 * threads;
    let micro_rows = m.div_ceil(MR);
    if micro_rows >= panels {
        let row_parts = want.min(micro_rows / 2).max(1);
        (row_parts, want.div_ceil(row_parts).min(panels).max(1))
    } else {
        let col_parts = want.min(panels / 2).max(1);
        (want.div_ceil(col_parts).min(micro_rows).max(1), col_parts)
    }
}

/// A destination shared by parallel tasks that each write their own disjoint part of it (the
/// products here, the DiT's attention tiles and int8 panels).
#[derive(Clone, Copy, Debug)]
pub struct SharedDst(pub *mut f32);
// SAFETY: only a pointer; whoever writes through it keeps the parts of different tasks disjoint.
unsafe impl Send for SharedDst {}
unsafe impl Sync for SharedDst {}

impl SharedDst {
    /// The pointer, `offset` values in (a method, so closures capture the whole `Send` wrapper rather
    /// than the raw field).
    pub fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// One micro-tile of `rows` ≤ 6 rows × `cols` ≤ 16 columns; partial columns go through a
/// 16-wide scratch tile.
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    avx2: bool,
    rows: usize,
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    init: Init,
) {
    if cols < NR {
        let mut tmp = [[0.0f32; NR]; MR];
        let mut bias = [0.0f32; NR];
        let init = match init {
            Init::Zero => Init::Zero,
            Init::Dest => {
                for (r, t) in tmp.iter_mut().enumerate().take(rows) {
                    // SAFETY: `cols` values of row r are inside the block.
                    t[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(c.add(r * ldc), cols) });
                }
                Init::Dest
            }
            Init::Bias(p) => {
                // SAFETY: the bias has `cols` values left from `p`.
                bias[..cols].copy_from_slice(unsafe { std::slice::from_raw_parts(p, cols) });
                Init::Bias(bias.as_ptr())
            }
        };
        // SAFETY: the scratch tile is MR × 16.
        unsafe { tile(avx2, rows, kc, a, lda, b, ldb, tmp.as_mut_ptr().cast(), NR, NR, init) };
        for (r, t) in tmp.iter().enumerate().take(rows) {
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), cols) }.copy_from_slice(&t[..cols]);
        }
        return;
    }
    macro_rules! by_rows {
        ($f:ident, $pa:literal) => {
            match rows {
                6 => $f::<6, $pa>(kc, a, lda, b, ldb, c, ldc, init),
                5 => $f::<5, $pa>(kc, a, lda, b, ldb, c, ldc, init),
                4 => $f::<4, $pa>(kc, a, lda, b, ldb, c, ldc, init),
                3 => $f::<3, $pa>(kc, a, lda, b, ldb, c, ldc, init),
                2 => $f::<2, $pa>(kc, a, lda, b, ldb, c, ldc, init),
                _ => $f::<1, $pa>(kc, a, lda, b, ldb, c, ldc, init),
            }
        };
    }
    macro_rules! dispatch {
        ($f:ident) => {
            if lda == PACKED_A {
                by_rows!($f, true)
            } else {
                by_rows!($f, false)
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: AVX2 and FMA are present; extents as documented.
        unsafe { dispatch!(kernel_avx2) };
        return;
    }
    let _ = avx2;
    // SAFETY: extents as documented.
    unsafe { dispatch!(kernel_portable) }
}

/// `lda` value meaning "`a` is one packed micro-panel": element (r, p) at `a[p·MR + r]`.
const PACKED_A: usize = 0;

/// Rows `r0..r1`, columns `kb..kb + kc` of the row-major `x` (row stride `lda`) as micro-panels of
/// [`MR`] rows, each `[kc][MR]` (rows past `r1` zero): every step of the micro-kernel then reads its 6
/// values of `a` from one contiguous 24-byte run instead of 6 rows far apart.
fn pack_a(x: &[f32], lda: usize, r0: usize, r1: usize, kb: usize, kc: usize, out: &mut Vec<f32>) {
    let groups = (r1 - r0).div_ceil(MR);
    out.clear();
    out.resize(groups * kc * MR, 0.0);
    for (g, panel) in out.chunks_exact_mut(kc * MR).enumerate() {
        let rows = MR.min(r1 - r0 - g * MR);
        let src: Vec<&[f32]> = (0..rows).map(|r| &x[(r0 + g * MR + r) * lda + kb..][..kc]).collect();
        for (p, step) in panel.chunks_exact_mut(MR).enumerate() {
            for (v, row) in step.iter_mut().zip(&src) {
                *v = row[p];
            }
        }
    }
}

/// Panels a task must span for packing `a` to pay: packing costs a few cycles per value of `a`, each
/// packed value then feeds 16 FMAs per panel. (A convolution at latent resolution has few columns and
/// a large weight as `a`: there the strided reads win.)
const PACK_A_MIN_PANELS: usize = 8;

thread_local! {
    /// Packed `a` blocks, reused from call to call on each thread.
    static A_PACK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `c[R × 16] = init + a[R × kc] · b[kc × 16]` (rows of `a`, `b`, `c` are `lda`, `ldb`, `ldc` apart;
/// with `PA`, `a` is one packed micro-panel: element (r, p) at `a[p·MR + r]`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_avx2<const R: usize, const PA: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    init: Init,
) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): `a` rows hold `kc` values, `c` rows 16, `b` has `kc` rows (caller).
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        match init {
            Init::Zero => {}
            Init::Dest => {
                for (r, acc) in acc.iter_mut().enumerate() {
                    *acc = [_mm256_loadu_ps(c.add(r * ldc)), _mm256_loadu_ps(c.add(r * ldc + 8))];
                }
            }
            Init::Bias(p) => {
                let bias = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
                acc = [bias; R];
            }
        }
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * ldb));
            let b1 = _mm256_loadu_ps(b.add(p * ldb + 8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*if PA { a.add(p * MR + r) } else { a.add(r * lda + p) });
                acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            _mm256_storeu_ps(c.add(r * ldc), acc[0]);
            _mm256_storeu_ps(c.add(r * ldc + 8), acc[1]);
        }
    }
}

/// Portable version of [`kernel_avx2`] (same summation order; multiply then add, no FMA).
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_portable<const R: usize, const PA: bool>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    init: Init,
) {
    // SAFETY (whole body): extents as in `kernel_avx2`.
    unsafe {
        let mut acc = [[0.0f32; NR]; R];
        match init {
            Init::Zero => {}
            Init::Dest => {
                for (r, acc) in acc.iter_mut().enumerate() {
                    acc.copy_from_slice(std::slice::from_raw_parts(c.add(r * ldc), NR));
                }
            }
            Init::Bias(p) => {
                let bias: [f32; NR] = std::slice::from_raw_parts(p, NR).try_into().expect("16 values");
                acc = [bias; R];
            }
        }
        for p in 0..kc {
            let br = std::slice::from_raw_parts(b.add(p * ldb), NR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let av = if PA { *a.add(p * MR + r) } else { *a.add(r * lda + p) };
                for (o, bv) in acc.iter_mut().zip(br) {
                    *o += av * *bv;
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            std::slice::from_raw_parts_mut(c.add(r * ldc), NR).copy_from_slice(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f64> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| x[i * k + p] as f64 * w[j * k + p] as f64).sum();
            }
        }
        out
    }

    fn data(len: usize, seed: usize) -> Vec<f32> {
        (0..len).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0) * 0.5).collect()
    }

    fn check(m: usize, k: usize, n: usize) {
        let (x, w, bias) = (data(m * k, 1), data(n * k, 2), data(n, 3));
        let packed = PackedWt::pack(&w, n, k);
        assert_eq!(packed.unpack(), w);
        let want = naive(&x, m, k, &w, n);
        let close = |got: &[f32], want: &dyn Fn(usize) -> f64, what: &str| {
            for (i, g) in got.iter().enumerate() {
                let e = want(i);
                assert!(
                    (*g as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()) * (k as f64).sqrt(),
                    "{what} m{m} k{k} n{n} at {i}: {g} vs {e}"
                );
            }
        };
        let mut out = vec![0.5f32; m * n];
        matmul_packed(&x, m, &packed, &mut out, Epilogue::Overwrite);
        close(&out, &|i| want[i], "overwrite");
        matmul_packed(&x, m, &packed, &mut out, Epilogue::Accumulate);
        close(&out, &|i| 2.0 * want[i], "accumulate");
        matmul_packed(&x, m, &packed, &mut out, Epilogue::Bias(&bias));
        close(&out, &|i| want[i] + bias[i % n] as f64, "bias");
        fn square(r: &mut [f32]) {
            r.iter_mut().for_each(|v| *v *= *v);
        }
        matmul_packed(&x, m, &packed, &mut out, Epilogue::BiasMap(&bias, square));
        close(&out, &|i| (want[i] + bias[i % n] as f64).powi(2), "bias+map");
    }

    #[test]
    fn packed_gemm_matches_naive() {
        // Edge rows (m % 6), partial panels (n % 16), k across KC blocks, and the parallel split: by
        // rows with `a` packed per task (n ≥ 128) or read in place, by columns with `a` packed once.
        // (`strided_matmul_matches_naive` covers row tasks sharing copied panels of b.)
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 5, 3),
            (13, 300, 40),
            (6, 256, 16),
            (100, 257, 33),
            (256, 64, 160),
            (37, 513, 48),
            (13, 520, 300),
        ] {
            check(m, k, n);
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("pool");
        pool.install(|| check(200, 384, 200));
    }

    #[test]
    fn strided_matmul_matches_naive() {
        // c[m × n] at column offset 3 of a wider matrix; a, b row strides larger than k, n.
        for &(m, k, n) in
            &[(1, 1, 1), (7, 9, 21), (20, 300, 35), (130, 70, 64), (64, 520, 100), (20, 300, 400), (200, 600, 90)]
        {
            let (lda, ldb, ldc) = (k + 5, n + 7, n + 11);
            let a = data(m * lda, 6);
            let b = data(k * ldb, 7);
            let before = data(m * ldc, 8);
            let w: Vec<f32> = (0..n * k).map(|i| b[(i % k) * ldb + i / k]).collect(); // bᵀ as [n, k]
            let x: Vec<f32> = (0..m * k).map(|i| a[(i / k) * lda + i % k]).collect();
            let want = naive(&x, m, k, &w, n);
            for accumulate in [true, false] {
                let mut got = before.clone();
                matmul(&mut got[3..], ldc, &a, lda, &b, ldb, m, n, k, accumulate);
                for i in 0..m {
                    for j in 0..ldc {
                        let (g, old) = (got[i * ldc + j] as f64, before[i * ldc + j] as f64);
                        let e = if j < 3 || j >= 3 + n {
                            old
                        } else {
                            want[i * n + j - 3] + if accumulate { old } else { 0.0 }
                        };
                        assert!(
                            (g - e).abs() <= 1e-5 * (1.0 + e.abs()) * (k as f64).sqrt(),
                            "m{m} k{k} n{n} ({i}, {j}): {g} vs {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn image_row_blocks_match_naive() {
        // Two blocks of image rows (width 7, pitch 10, 9 image rows → 63 columns), as a conv's taps.
        let (m, width, pitch, h) = (13, 7, 10, 9);
        let n = width * h;
        let plane = pitch * h + 3;
        let src = data(4 * plane, 12);
        let blocks = [
            RowBlock::image(&src[2..], plane, 2, width, pitch),
            RowBlock::image(&src[2 * plane + 1..], plane, 2, width, pitch),
        ];
        let k = 4;
        let b_at = |p: usize, c: usize| {
            let blk = &blocks[p / 2];
            blk.data[(p % 2) * plane + (c / width) * pitch + c % width]
        };
        let a = data(m * k, 13);
        let w: Vec<f32> = (0..n * k).map(|i| b_at(i % k, i / k)).collect(); // bᵀ as [n, k]
        let want = naive(&a, m, k, &w, n);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let mut got = vec![0.0f32; m * n];
            pool.install(|| matmul_rows(&mut got, n, &a, k, &blocks, m, n, false));
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!((*g as f64 - e).abs() < 1e-5, "{threads} threads, at {i}: {g} vs {e}");
            }
        }
    }

    #[test]
    fn portable_and_avx2_kernels_agree_with_naive() {
        // Every row count, a in place and packed, partial columns, each init; both kernels.
        let (kc, lda) = (37, 40);
        let a = data(MR * lda, 9);
        let b = data(kc * NR, 10);
        let bias = data(NR, 11);
        for rows in 1..=MR {
            let mut packed = Vec::new();
            pack_a(&a, lda, 0, rows, 0, kc, &mut packed);
            for cols in [NR, 5] {
                for (init, base) in [(Init::Zero, 0.0), (Init::Dest, 0.25), (Init::Bias(bias.as_ptr()), 0.0)] {
                    for avx2 in [false, has_avx2()] {
                        for (ap, ld) in [(a.as_ptr(), lda), (packed.as_ptr(), PACKED_A)] {
                            let mut c = vec![0.25f32; MR * NR];
                            // SAFETY: a is 6 × 40 (or one packed micro-panel of 37 steps), b 37 × 16, c 6 × 16.
                            unsafe { tile(avx2, rows, kc, ap, ld, b.as_ptr(), NR, c.as_mut_ptr(), NR, cols, init) };
                            for r in 0..MR {
                                for j in 0..NR {
                                    let got = c[r * NR + j] as f64;
                                    let want = if r >= rows || j >= cols {
                                        0.25
                                    } else {
                                        let dot: f64 =
                                            (0..kc).map(|p| a[r * lda + p] as f64 * b[p * NR + j] as f64).sum();
                                        let start = if matches!(init, Init::Bias(_)) { bias[j] as f64 } else { base };
                                        start + dot
                                    };
                                    assert!(
                                        (got - want).abs() < 1e-5,
                                        "rows {rows} cols {cols} avx2 {avx2} ld {ld} ({r}, {j}): {got} vs {want}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn result_does_not_depend_on_thread_count() {
        let (m, k, n) = (300, 520, 96);
        let (x, w) = (data(m * k, 4), data(n * k, 5));
        let packed = PackedWt::pack(&w, n, k);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            let mut out = vec![0.0; m * n];
            pool.install(|| matmul_packed(&x, m, &packed, &mut out, Epilogue::Overwrite));
            out
        };
        assert_eq!(run(1), run(4));
    }
}
