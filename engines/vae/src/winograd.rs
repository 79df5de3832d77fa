//! Winograd F(2×2, 3×3) for the 3×3 (×kt) convolutions (Lavin & Gray 2016): a 2×2 output tile is
//! `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)] A` with `d` the 4×4 input patch around it, so the 9·4 multiplies per
//! tile and channel pair become 16 — one GEMM per transformed position `p = 4·r + c` (16 in all),
//! `[cout × kt·cin] · [kt·cin × tiles]`, the time taps stacked on `k` as in the direct conv.
//!
//! ```text
//!      ⎡1  0 −1  0⎤        ⎡1    0    0 ⎤        ⎡1  1  1  0⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢½    ½    ½ ⎥   Aᵀ = ⎣0  1 −1 −1⎦
//!      ⎢0 −1  1  0⎥        ⎢½   −½    ½ ⎥
//!      ⎣0  1  0 −1⎦        ⎣0    0    1 ⎦
//! ```
//!
//! Frames are zero-padded by one pixel and rounded up to even sizes ([`padded_dims`]), so every tile's
//! 4×4 patch lies inside the padded frame; outputs past an odd `h` or `w` are not written. A padded row
//! is stored as its even columns, then its odd ones ([`put_row`]).

/// Padded frame `(rows, cols)` of an `h × w` frame: one zero pixel around, rounded up to whole 2×2
/// tiles (`2·⌈h/2⌉ + 2`, `2·⌈w/2⌉ + 2`).
pub(crate) fn padded_dims(h: usize, w: usize) -> (usize, usize) {
    (2 * h.div_ceil(2) + 2, 2 * w.div_ceil(2) + 2)
}

/// Transformed weights `[16][cout][kt·cin]` (column `dt·cin + ci`) from PyTorch's `[cout, cin, kt, 3, 3]`.
pub(crate) fn transform_weights(weight: &[f32], cin: usize, cout: usize, kt: usize) -> Vec<f32> {
    debug_assert_eq!(weight.len(), cout * cin * kt * 9);
    let kk = kt * cin;
    let mut u = vec![0.0f32; 16 * cout * kk];
    // Rows of G applied to a 3-vector.
    let gmul = |v: [f64; 3]| [v[0], 0.5 * (v[0] + v[1] + v[2]), 0.5 * (v[0] - v[1] + v[2]), v[2]];
    for co in 0..cout {
        for ci in 0..cin {
            for dt in 0..kt {
                let g = &weight[((co * cin + ci) * kt + dt) * 9..][..9];
                // G g: 4 rows of 3 (G applied to each column of g).
                let cols: [[f64; 4]; 3] =
                    std::array::from_fn(|kx| gmul([g[kx] as f64, g[3 + kx] as f64, g[6 + kx] as f64]));
                for r in 0..4 {
                    // (G g) Gᵀ: G applied to row r.
                    let row = gmul([cols[0][r], cols[1][r], cols[2][r]]);
                    for (c, v) in row.iter().enumerate() {
                        u[((4 * r + c) * cout + co) * kk + dt * cin + ci] = *v as f32;
                    }
                }
            }
        }
    }
    u
}

/// Row `row` (`w` values) into a padded row (`wp` values, [`padded_dims`]): padded column `x + 1`,
/// stored as the even columns then the odd ones (`wp / 2` each), so the input transform reads both
/// contiguously. The border stays as it is (zero).
#[inline(always)]
fn put_row(dst: &mut [f32], row: &[f32]) {
    let (even, odd) = dst.split_at_mut(dst.len() / 2);
    // Padded column x + 1: odd for even x.
    let pairs = row.chunks_exact(2);
    if let [last] = pairs.remainder() {
        odd[row.len() / 2] = *last;
    }
    for ((o, e), pair) in odd.iter_mut().zip(&mut even[1..]).zip(pairs) {
        *o = pair[0];
        *e = pair[1];
    }
}

/// How a conv's input frame is turned into its padded planes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prep<'a> {
    /// The frame as given.
    Plain,
    /// Wan's `RMS_norm` over channels with scale `gamma` (the per-pixel scales precomputed), then
    /// SiLU when `silu`.
    Norm { gamma: &'a [f32], silu: bool },
    /// 2× nearest upsampling: the conv runs on the `2h × 2w` frame.
    Upsample2x,
}

/// Channel `ci` `[h, w]` of a frame into its padded plane (`dst`, zero outside the frame, of the
/// frame the conv sees: `2h × 2w` for [`Prep::Upsample2x`]); `scale` the per-pixel norm scales for
/// [`Prep::Norm`], `row` scratch.
pub(crate) fn pad_plane(src: &[f32], ci: usize, h: usize, w: usize, prep: Prep, scale: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if worldflow_base::cpu::has_avx512f() {
        // SAFETY: the CPU has AVX-512F (`has_avx512f`, just above).
        return unsafe { pad_plane_avx512(src, ci, h, w, prep, scale, dst) };
    }
    pad_plane_body(src, ci, h, w, prep, scale, dst)
}

/// [`pad_plane_body`] compiled for AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pad_plane_avx512(src: &[f32], ci: usize, h: usize, w: usize, prep: Prep, scale: &[f32], dst: &mut [f32]) {
    pad_plane_body(src, ci, h, w, prep, scale, dst)
}

#[inline(always)]
fn pad_plane_body(src: &[f32], ci: usize, h: usize, w: usize, prep: Prep, scale: &[f32], dst: &mut [f32]) {
    match prep {
        Prep::Plain => {
            let wp = padded_dims(h, w).1;
            for (y, row) in src.chunks_exact(w).take(h).enumerate() {
                put_row(&mut dst[(y + 1) * wp..][..wp], row);
            }
        }
        Prep::Norm { gamma, silu } => {
            let wp = padded_dims(h, w).1;
            let mut normed = vec![0.0f32; w];
            for (y, (row, sc)) in src.chunks_exact(w).zip(scale.chunks_exact(w)).take(h).enumerate() {
                crate::ops::norm_values(&mut normed, row, sc, gamma[ci], silu);
                put_row(&mut dst[(y + 1) * wp..][..wp], &normed);
            }
        }
        Prep::Upsample2x => {
            // Upsampled column X = 2q, 2q + 1 reads column q: padded columns 2q + 1 (odd q) and
            // 2q + 2 (even q + 1) both hold it; upsampled rows 2y, 2y + 1 read row y.
            let wp = padded_dims(2 * h, 2 * w).1;
            let half = wp / 2;
            for (y, row) in src.chunks_exact(w).take(h).enumerate() {
                let (first, second) = dst[(2 * y + 1) * wp..][..2 * wp].split_at_mut(wp);
                first[half..half + w].copy_from_slice(row);
                first[1..=w].copy_from_slice(row);
                second.copy_from_slice(first);
            }
        }
    }
}

/// `Bᵀ d B` of tile rows `rows` of one padded channel plane ([`put_row`], `wp` values a row, `tx`
/// tiles a row) into `out` `[16][np]`, tile `(i, j)` at column `(i − rows.start)·tx + j`. `h` is scratch.
pub(crate) fn input_transform(
    plane: &[f32],
    wp: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    np: usize,
    out: &mut [f32],
    h: &mut Vec<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if worldflow_base::cpu::has_avx512f() {
        // SAFETY: the CPU has AVX-512F (`has_avx512f`, just above).
        return unsafe { input_transform_avx512(plane, wp, tx, rows, np, out, h) };
    }
    input_transform_body(plane, wp, tx, rows, np, out, h)
}

/// [`input_transform_body`] compiled for AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn input_transform_avx512(
    plane: &[f32],
    wp: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    np: usize,
    out: &mut [f32],
    h: &mut Vec<f32>,
) {
    input_transform_body(plane, wp, tx, rows, np, out, h)
}

#[inline(always)]
fn input_transform_body(
    plane: &[f32],
    wp: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    np: usize,
    out: &mut [f32],
    h: &mut Vec<f32>,
) {
    let half = wp / 2;
    debug_assert_eq!(half, tx + 1);
    // Horizontal pass over the padded rows 2·start .. 2·end + 2: Bᵀ on the 4 columns 2j..2j+4 of each
    // (even e, odd o: e[j], o[j], e[j+1], o[j+1]), component c of row r at (4r + c)·tx.
    let nr = 2 * rows.len() + 2;
    h.resize(4 * nr * tx, 0.0);
    for (r, hr) in h.chunks_exact_mut(4 * tx).enumerate() {
        let (e, o) = plane[(2 * rows.start + r) * wp..][..wp].split_at(half);
        let (h0, rest) = hr.split_at_mut(tx);
        let (h1, rest) = rest.split_at_mut(tx);
        let (h2, h3) = rest.split_at_mut(tx);
        let (e0, e1, o0, o1) = (&e[..tx], &e[1..=tx], &o[..tx], &o[1..=tx]);
        for j in 0..tx {
            h0[j] = e0[j] - e1[j];
            h1[j] = o0[j] + e1[j];
            h2[j] = e1[j] - o0[j];
            h3[j] = o0[j] - o1[j];
        }
    }
    // Vertical pass: Bᵀ on the 4 rows 2i..2i+4 of each horizontal component c.
    for i in rows.clone() {
        let rr = 2 * (i - rows.start);
        let col0 = (i - rows.start) * tx;
        for c in 0..4 {
            let row = |k: usize| &h[(4 * (rr + k) + c) * tx..][..tx];
            let (a, b, cc, d) = (row(0), row(1), row(2), row(3));
            let (v0, rest) = out[c * np + col0..].split_at_mut(4 * np);
            let (v1, rest) = rest.split_at_mut(4 * np);
            let (v2, v3) = rest.split_at_mut(4 * np);
            let (v0, v1, v2, v3) = (&mut v0[..tx], &mut v1[..tx], &mut v2[..tx], &mut v3[..tx]);
            for j in 0..tx {
                v0[j] = a[j] - cc[j];
                v1[j] = b[j] + cc[j];
                v2[j] = cc[j] - b[j];
                v3[j] = b[j] - d[j];
            }
        }
    }
}

/// `Aᵀ m A + bias` of one output channel: `m` holds the 16 transformed positions `pstride` apart (tile
/// `(i, j)` of tile rows `rows` at `(i − rows.start)·tx + j`), `out` is the channel's `h × w` plane,
/// written or, when `add`, added to.
#[allow(clippy::too_many_arguments, reason = "the band geometry, the channel and its bias, the plane")]
pub(crate) fn output_transform(
    m: &[f32],
    pstride: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    bias: f32,
    out: &mut [f32],
    h: usize,
    w: usize,
    add: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if worldflow_base::cpu::has_avx512f() {
        // SAFETY: the CPU has AVX-512F (`has_avx512f`, just above).
        return unsafe { output_transform_avx512(m, pstride, tx, rows, bias, out, h, w, add) };
    }
    output_transform_body(m, pstride, tx, rows, bias, out, h, w, add)
}

/// [`output_transform_body`] compiled for AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments, reason = "the band geometry, the channel and its bias, the plane")]
unsafe fn output_transform_avx512(
    m: &[f32],
    pstride: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    bias: f32,
    out: &mut [f32],
    h: usize,
    w: usize,
    add: bool,
) {
    output_transform_body(m, pstride, tx, rows, bias, out, h, w, add)
}

#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "the band geometry, the channel and its bias, the plane")]
fn output_transform_body(
    m: &[f32],
    pstride: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    bias: f32,
    out: &mut [f32],
    h: usize,
    w: usize,
    add: bool,
) {
    for i in rows.clone() {
        let col0 = (i - rows.start) * tx;
        let ms: [&[f32]; 16] = std::array::from_fn(|k| &m[k * pstride + col0..][..tx]);
        let (r0, r1) = out[2 * i * w..].split_at_mut(w);
        // Tile j: the 2×2 outputs (Aᵀ m A)[a][b] + bias.
        let tile = |j: usize| {
            let s: [[f32; 4]; 2] = [
                std::array::from_fn(|c| ms[c][j] + ms[4 + c][j] + ms[8 + c][j]),
                std::array::from_fn(|c| ms[4 + c][j] - ms[8 + c][j] - ms[12 + c][j]),
            ];
            s.map(|s| [s[0] + s[1] + s[2] + bias, s[1] - s[2] - s[3] + bias])
        };
        if 2 * tx == w && 2 * i + 1 < h {
            for (j, (o0, o1)) in r0.chunks_exact_mut(2).zip(r1[..w].chunks_exact_mut(2)).enumerate() {
                let [y0, y1] = tile(j);
                if add {
                    o0.iter_mut().zip(y0).for_each(|(o, y)| *o += y);
                    o1.iter_mut().zip(y1).for_each(|(o, y)| *o += y);
                } else {
                    o0.copy_from_slice(&y0);
                    o1.copy_from_slice(&y1);
                }
            }
        } else {
            for j in 0..tx {
                let y = tile(j);
                for (a, row) in [&mut *r0, &mut *r1].into_iter().enumerate() {
                    if 2 * i + a < h {
                        for b in 0..2 {
                            if 2 * j + b < w {
                                row[2 * j + b] = if add { row[2 * j + b] + y[a][b] } else { y[a][b] };
                            }
                        }
                    }
                }
            }
        }
    }
}
