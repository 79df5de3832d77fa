//! Operands in the layouts the micro-kernel streams: the right operand in panels of [`NR`] = 16
//! columns, `[k][16]` with 64-byte rows (a [`PackedWt`] holds a weight that way for good; other right
//! operands, given as [`RowBlock`]s, are copied one (k block, panel) at a time), and the left operand
//! in micro-panels of the kernel's `mr` rows (6, or 12 for AVX-512), `[k][mr]` ([`pack_a`]).

use crate::view::MatRef;
use crate::{KC, NR};

/// One step of `k` of a panel: 16 weights, one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct PanelRow([f32; NR]);

/// A weight `[n, k]` (PyTorch `Linear.weight` order) packed for [`crate::matmul_packed`].
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
        self.rows.len() * size_of::<PanelRow>()
    }

    /// Panel `j` from step `kb` on: `k − kb` rows of 16 values, 16 apart.
    pub(crate) fn panel_from(&self, j: usize, kb: usize) -> *const f32 {
        self.rows[j * self.k + kb..].as_ptr().cast::<f32>()
    }
}

/// `rows` consecutive rows of the right operand of [`crate::matmul_rows`]. Column `c` of row `r` is
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

    /// A row-major matrix view as one block of rows.
    pub fn from_mat(b: MatRef<'a>) -> Self {
        Self::new(b.data(), b.ld(), b.rows())
    }

    /// Rows `stride` apart, each an image of rows of `width` pixels `pitch` apart.
    pub fn image(data: &'a [f32], stride: usize, rows: usize, width: usize, pitch: usize) -> Self {
        assert!(width > 0 && pitch >= width, "RowBlock::image: width {width}, pitch {pitch}");
        RowBlock { data, stride, rows, width, pitch }
    }

    /// Offset of column `c` within a row.
    pub(crate) fn offset(&self, c: usize) -> usize {
        (c / self.width) * self.pitch + c % self.width
    }
}

/// The right operand of a product, one `[kc][16]` panel at a time.
pub(crate) enum Panels<'a, 'b> {
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
pub(crate) const PANEL_SLOT: usize = KC * NR + NR;

/// Panels per copy in a column task (≈ 512 KiB, within L2).
pub(crate) const COPY_PANELS: usize = 32;

impl Panels<'_, '_> {
    /// Whether every panel of `b` can be read where it lies, without a copy: a `Rows` operand whose
    /// panels are each 16 contiguous values of one row (image rows a multiple of 16 wide, or rows
    /// without wrap, and no partial last panel). The micro-kernel then reads a panel's `k` rows
    /// straight from the blocks (rows `stride` apart), one block at a time ([`Panels::k_blocks`]).
    pub(crate) fn in_place(&self) -> bool {
        match self {
            Panels::Packed(_) => false,
            Panels::Rows { blocks, n } => {
                n % NR == 0 && blocks.iter().all(|blk| blk.width >= *n || blk.width % NR == 0)
            }
        }
    }

    /// The `k` blocks `(kb, kc)` of the product: [`KC`] rows at a time, and for panels read in place
    /// also cut where one row block ends (a panel's rows are equally spaced only within a block).
    pub(crate) fn k_blocks(&self, k: usize) -> Vec<(usize, usize)> {
        match self {
            Panels::Rows { blocks, .. } if self.in_place() => {
                let mut out = Vec::new();
                let mut kb = 0;
                for blk in blocks.iter() {
                    for start in (0..blk.rows).step_by(KC) {
                        out.push((kb + start, KC.min(blk.rows - start)));
                    }
                    kb += blk.rows;
                }
                out
            }
            _ => (0..k).step_by(KC).map(|kb| (kb, KC.min(k - kb))).collect(),
        }
    }

    /// Panel `j` from row `kb` on, read in place ([`Panels::in_place`]; `kb` starts one of
    /// [`Panels::k_blocks`]): its first value and the distance between its rows.
    pub(crate) fn panel_in_place(&self, kb: usize, j: usize) -> (*const f32, usize) {
        let Panels::Rows { blocks, .. } = self else { unreachable!("only row blocks are read in place") };
        let (mut bi, mut r) = (0, kb);
        while r >= blocks[bi].rows {
            (r, bi) = (r - blocks[bi].rows, bi + 1);
        }
        let blk = &blocks[bi];
        (blk.data[r * blk.stride + blk.offset(j * NR)..].as_ptr(), blk.stride)
    }
}

/// One contiguous run of a row of `b` in a panel copy: `len` values from `src` (offset in the row) to
/// `dst` (offset in the copy buffer for step 0 of `k`).
#[derive(Clone, Copy)]
struct Run {
    src: usize,
    dst: usize,
    len: usize,
}

/// The runs that columns `c0..c1` of a row of `blk` fall into, cut at image rows and at panel
/// boundaries. They are the same for every row of a block layout, so [`Panels::copy`] works them
/// out once (each needs divisions) and then only moves data.
fn runs(blk: &RowBlock, c0: usize, c1: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut c = c0;
    while c < c1 {
        let run = (blk.width - c % blk.width).min(c1 - c);
        let src = blk.offset(c);
        let mut done = 0;
        while done < run {
            let cc = c - c0 + done;
            let (jj, lane) = (cc / NR, cc % NR);
            let len = (NR - lane).min(run - done);
            runs.push(Run { src: src + done, dst: jj * PANEL_SLOT + lane, len });
            done += len;
        }
        c += run;
    }
    runs
}

impl Panels<'_, '_> {
    /// Rows `kb..kb + kc` of panels `j0..j1` into `out`, panel `j` at `(j − j0)·PANEL_SLOT`, as rows of
    /// 16 values (zero past `n`). `Rows` only: a packed weight is read in place. Each source row is read
    /// once, left to right, so the hardware prefetcher streams it.
    pub(crate) fn copy(&self, kb: usize, kc: usize, j0: usize, j1: usize, out: &mut [f32]) {
        let Panels::Rows { blocks, n } = self else { unreachable!("packed weights are read in place") };
        let (c0, c1) = (j0 * NR, (j1 * NR).min(*n));
        // Row kb of b: block `bi`, row `r` in it.
        let (mut bi, mut r) = (0, kb);
        while r >= blocks[bi].rows {
            (r, bi) = (r - blocks[bi].rows, bi + 1);
        }
        // The runs of the current block layout (width, pitch), recomputed when it changes.
        let (mut layout, mut row_runs) = (None, Vec::new());
        let tail = (c1 - c0) % NR;
        for p in 0..kc {
            while r == blocks[bi].rows {
                (bi, r) = (bi + 1, 0);
            }
            let blk = &blocks[bi];
            if layout != Some((blk.width, blk.pitch)) {
                (layout, row_runs) = (Some((blk.width, blk.pitch)), runs(blk, c0, c1));
            }
            let row = &blk.data[r * blk.stride..];
            for run in &row_runs {
                copy_short(&mut out[run.dst + p * NR..][..run.len], &row[run.src..][..run.len]);
            }
            if tail != 0 {
                out[((c1 - c0) / NR) * PANEL_SLOT + p * NR + tail..][..NR - tail].fill(0.0);
            }
            r += 1;
        }
    }
}

/// Rows `r0..r1`, columns `kb..kb + kc` of `x` as micro-panels of `mr` rows, each `[kc][mr]` (rows
/// past `r1` zero): every step of the micro-kernel then reads its `mr` values of `a` from one
/// contiguous run instead of `mr` rows far apart. Each source row is read left to right in one go
/// (one stream for the prefetcher; a conv's weights come from DRAM), its values scattered `mr` apart
/// into the panel, which stays in L1.
pub(crate) fn pack_a(x: MatRef, r0: usize, r1: usize, kb: usize, kc: usize, mr: usize, out: &mut Vec<f32>) {
    let (data, lda) = (x.data(), x.ld());
    let groups = (r1 - r0).div_ceil(mr);
    out.clear();
    out.resize(groups * kc * mr, 0.0);
    for (g, panel) in out.chunks_exact_mut(kc * mr).enumerate() {
        let rows = mr.min(r1 - r0 - g * mr);
        for r in 0..rows {
            let src = &data[(r0 + g * mr + r) * lda + kb..][..kc];
            for (dst, v) in panel[r..].iter_mut().step_by(mr).zip(src) {
                *dst = *v;
            }
        }
    }
}
