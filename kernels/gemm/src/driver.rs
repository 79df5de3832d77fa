//! The blocked loop behind every entry point (GotoBLAS-style): tasks over row or column ranges run
//! with rayon, `k` walked in blocks of `KC`, each task's panels, then its rows in micro-tiles.
//! Whatever several tasks would copy alike is copied once and shared.

use std::ops::Range;

use rayon::prelude::*;

use crate::kernel::{tile, ATile, BTile, Init, MicroKernel, TileDims};
use crate::pack::{pack_a, Panels, COPY_PANELS, PANEL_SLOT};
use crate::view::{MatRef, SharedMatMut};
use crate::NR;

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

/// Panels a task must span for packing `a` to pay, on a kernel that packs it at all
/// ([`MicroKernel::packs_a`]): packing costs a few cycles per value of `a`, each packed value then
/// feeds 16 FMAs per panel. (A convolution at latent resolution has few columns and a large weight as
/// `a`: there the strided reads win.)
const PACK_A_MIN_PANELS: usize = 8;

thread_local! {
    /// Packed `a` blocks, reused from call to call on each thread.
    static A_PACK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Where a task's micro-tiles read `a` from in one `k` block.
#[derive(Clone, Copy)]
enum ASource<'a> {
    /// Rows of `a` in place.
    InPlace(MatRef<'a>),
    /// Packed micro-panels ([`pack_a`]) of rows `r0..`: micro-panel g at `g·kc·mr`.
    Packed(&'a [f32], usize),
}

/// The left operand of one product and, when column tasks share it, all of it packed up front.
struct AOperand<'a> {
    a: MatRef<'a>,
    /// Rows per micro-panel (the kernel's).
    mr: usize,
    /// Panels a task must span for packing `a` ([`PACK_A_MIN_PANELS`], or never).
    pack_min_panels: usize,
    micro_rows: usize,
    /// [`pack_a`] of every `k` block over all rows: block `kb` at `kb·micro_rows·mr`.
    shared: Option<Vec<f32>>,
}

impl<'a> AOperand<'a> {
    /// Packs all of `a` once, for tasks that each need every row, in the product's `k` blocks.
    fn with_shared(self, k_blocks: &[(usize, usize)]) -> Self {
        let (m, k) = (self.a.rows(), self.a.cols());
        let mut all = Vec::with_capacity(self.micro_rows * self.mr * k);
        let mut block = Vec::new();
        for &(kb, kc) in k_blocks {
            pack_a(self.a, 0, m, kb, kc, self.mr, &mut block);
            all.extend_from_slice(&block);
        }
        AOperand { shared: Some(all), ..self }
    }

    /// Where rows `r0..r1` come from in the `k` block `kb..kb + kc`, for a task over `span` panels: the
    /// shared packing, a packing into `buf` when enough panels reuse it (`pack_min_panels`), or
    /// the rows in place.
    fn source<'s>(
        &'s self,
        rows: Range<usize>,
        span: usize,
        kb: usize,
        kc: usize,
        buf: &'s mut Vec<f32>,
    ) -> ASource<'s> {
        match &self.shared {
            Some(all) => ASource::Packed(&all[kb * self.micro_rows * self.mr..], 0),
            None if span >= self.pack_min_panels => {
                pack_a(self.a, rows.start, rows.end, kb, kc, self.mr, buf);
                ASource::Packed(buf, rows.start)
            }
            None => ASource::InPlace(self.a),
        }
    }
}

/// The fixed arguments of one product.
struct Product<'a> {
    k: usize,
    n: usize,
    c: SharedMatMut<'a>,
    ep: Epilogue<'a>,
    kernel: MicroKernel,
}

impl Product<'_> {
    /// Rows `rows` × panels `panels` for the `k` block `kb..kb + kc` (`kblock` = `(kb, kc)`), panel
    /// `j` at `panel(j)`, its rows `ldb` apart.
    ///
    /// # Safety
    /// That block of `c` must be the caller's alone; `a` and the panels must hold the values described.
    unsafe fn block(
        &self,
        rows: Range<usize>,
        panels: Range<usize>,
        (kb, kc): (usize, usize),
        a: ASource,
        ldb: usize,
        mut panel: impl FnMut(usize) -> *const f32,
    ) {
        let (r0, r1) = (rows.start, rows.end);
        let last = kb + kc == self.k;
        let (mr, wide) = (self.kernel.mr(), self.kernel.panels() == 2);
        let mut j = panels.start;
        while j < panels.end {
            // A wide kernel takes two panels side by side while two are left.
            let pair = wide && j + 1 < panels.end;
            let (col, cols) = (j * NR, (if pair { 2 * NR } else { NR }).min(self.n - j * NR));
            let b = BTile { ptr: panel(j), next: if pair { panel(j + 1) } else { std::ptr::null() }, ld: ldb };
            let init = match (kb, self.ep) {
                (0, Epilogue::Overwrite) => Init::Zero,
                (0, Epilogue::Bias(bias) | Epilogue::BiasMap(bias, _)) => Init::Bias(bias[col..].as_ptr()),
                _ => Init::Dest,
            };
            for (g, i) in (r0..r1).step_by(mr).enumerate() {
                let rows = mr.min(r1 - i);
                let at = match a {
                    ASource::InPlace(a) => ATile::Rows(a.strided_at(i, kb)),
                    ASource::Packed(p, row0) => ATile::Packed(p[(g + (r0 - row0) / mr) * kc * mr..].as_ptr()),
                };
                // Rows i..i+rows, columns col..col+cols of `c`: the caller's (contract).
                let c = self.c.strided_at(i, col);
                // SAFETY: `at` is a packed micro-panel of kc steps or `rows` rows of `a` from
                // column kb; each panel of `b` holds kc rows of 16 (contract).
                unsafe { tile(self.kernel, TileDims { rows, cols, kc }, at, b, c, init) };
                if let (true, Epilogue::BiasMap(_, f)) = (last, self.ep) {
                    for r in 0..rows {
                        // SAFETY: as above.
                        f(unsafe { c.row(r, cols) });
                    }
                }
            }
            j += if pair { 2 } else { 1 };
        }
    }
}

/// `c (epilogue) a · b`, `a` [m × k], `b` [k × n], `c` [m × n]: the blocked loop behind every entry
/// point.
///
/// Tasks (rayon, unless `serial`) are row or column ranges ([`split`]) of whole tiles (the
/// kernel's `mr` rows, its `panels()` panels), `k` walked in blocks of [`crate::KC`] ([`Panels::k_blocks`]),
/// each task's panels (two at a time for a wide kernel), then its rows in micro-tiles. Whatever
/// several tasks would copy alike is copied once and shared: with column tasks the packed `a`
/// ([`pack_a`], all of it up front); with row tasks over copied panels of `b`, each `k` block's
/// panels (packed in parallel, then computed). Row blocks of `b` whose panels are contiguous
/// ([`Panels::in_place`]: a conv's image rows a multiple of 16 wide) are not copied at all: the
/// kernel reads them where they lie, `k` blocks cut at block ends. `a` is read in place when too few
/// panels would reuse a packed copy ([`PACK_A_MIN_PANELS`]) and always by the AVX-512 kernel.
///
/// # Safety
/// No other thread may touch `c`'s block meanwhile; `b` gives `k` rows of `n` values.
pub(crate) unsafe fn gemm_core(a: MatRef, b: &Panels, c: SharedMatMut, ep: Epilogue, serial: bool) {
    let (m, k, n) = (a.rows(), a.cols(), c.cols());
    debug_assert_eq!(c.rows(), m);
    let kernel = MicroKernel::detect();
    let (mr, unit) = (kernel.mr(), kernel.panels());
    let panels = n.div_ceil(NR);
    // Column tasks get whole tiles: `unit` panels each (the last may be short).
    let tiles = panels.div_ceil(unit);
    let (row_parts, col_parts) = if serial { (1, 1) } else { split(m.div_ceil(mr), tiles, 2 * m * n * k) };
    let micro_rows = m.div_ceil(mr);
    let row_range =
        |ri: usize| (micro_rows * ri / row_parts * mr).min(m)..(micro_rows * (ri + 1) / row_parts * mr).min(m);
    let col_range =
        |ci: usize| (tiles * ci / col_parts * unit).min(panels)..(tiles * (ci + 1) / col_parts * unit).min(panels);
    let pr = Product { k, n, c, ep, kernel };
    let pack_min_panels = if kernel.packs_a() { PACK_A_MIN_PANELS } else { usize::MAX };
    let a_op = AOperand { a, mr, pack_min_panels, micro_rows, shared: None };
    let k_blocks = b.k_blocks(k);

    if row_parts > 1 && matches!(b, Panels::Rows { .. }) && !b.in_place() {
        // Row tasks over copied panels: per k block, copy every panel once, then all row tasks.
        let mut shared_b = vec![0.0f32; panels * PANEL_SLOT];
        let per_task = panels.div_ceil(rayon::current_num_threads());
        for &(kb, kc) in &k_blocks {
            shared_b.par_chunks_mut(per_task * PANEL_SLOT).enumerate().for_each(|(t, buf)| {
                let j0 = t * per_task;
                b.copy(kb, kc, j0, (j0 + per_task).min(panels), buf);
            });
            let shared_b = &shared_b;
            (0..row_parts).into_par_iter().for_each(|ri| {
                let rows = row_range(ri);
                if rows.is_empty() {
                    return;
                }
                A_PACK.with(|cell| {
                    let apack = &mut *cell.borrow_mut();
                    let src = a_op.source(rows.clone(), panels, kb, kc, apack);
                    // SAFETY: these rows are this task's; the shared panels hold kc rows of 16.
                    unsafe { pr.block(rows, 0..panels, (kb, kc), src, NR, |j| shared_b[j * PANEL_SLOT..].as_ptr()) };
                });
            });
        }
        return;
    }

    // Column tasks would each pack the same rows of `a`: pack them once here instead.
    let a_op = if col_parts > 1 && panels >= pack_min_panels { a_op.with_shared(&k_blocks) } else { a_op };
    let copied = matches!(b, Panels::Rows { .. }) && !b.in_place();
    let task = |t: usize| {
        let (rows, cols) = (row_range(t / col_parts), col_range(t % col_parts));
        if rows.is_empty() || cols.is_empty() {
            return;
        }
        A_PACK.with(|cell| {
            let apack = &mut *cell.borrow_mut();
            let mut bbuf = vec![0.0f32; if copied { COPY_PANELS * PANEL_SLOT } else { 0 }];
            for &(kb, kc) in &k_blocks {
                let src = a_op.source(rows.clone(), cols.len(), kb, kc, apack);
                match b {
                    Panels::Packed(w) => {
                        // SAFETY: these rows × panels are this task's; a packed panel holds kc rows of
                        // 16 from kb.
                        unsafe { pr.block(rows.clone(), cols.clone(), (kb, kc), src, NR, |j| w.panel_from(j, kb)) };
                    }
                    Panels::Rows { .. } if !copied => {
                        let ldb = b.panel_in_place(kb, cols.start).1;
                        // SAFETY: as above; read in place, a panel is 16 contiguous values in each of
                        // the kc rows of one block, `ldb` apart (`Panels::in_place`, `k_blocks`).
                        unsafe {
                            pr.block(rows.clone(), cols.clone(), (kb, kc), src, ldb, |j| b.panel_in_place(kb, j).0)
                        };
                    }
                    Panels::Rows { .. } => {
                        for c0 in cols.clone().step_by(COPY_PANELS) {
                            let c1 = (c0 + COPY_PANELS).min(cols.end);
                            b.copy(kb, kc, c0, c1, &mut bbuf);
                            let bbuf = &bbuf;
                            // SAFETY: as above; the copied panels hold kc rows of 16.
                            unsafe {
                                pr.block(rows.clone(), c0..c1, (kb, kc), src, NR, |j| {
                                    bbuf[(j - c0) * PANEL_SLOT..].as_ptr()
                                })
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

/// Row and column parts for a product of `flops` over `micro_rows` × `panels` tiles: one task when
/// small, else about four per thread, along the dimension with more tiles (each row part reuses
/// every panel of `b`; each column part every row of `a`).
fn split(micro_rows: usize, panels: usize, flops: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads();
    if flops < 2_000_000 || threads == 1 {
        return (1, 1);
    }
    let want = 4 * threads;
    if micro_rows >= panels {
        let row_parts = want.min(micro_rows / 2).max(1);
        (row_parts, want.div_ceil(row_parts).min(panels).max(1))
    } else {
        let col_parts = want.min(panels / 2).max(1);
        (want.div_ceil(col_parts).min(micro_rows).max(1), col_parts)
    }
}
