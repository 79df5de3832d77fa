//! Step 1 of blending a tile: the tile's Gaussians, compacted, and for every (pixel row, 8-pixel group)
//! of the tile the set of those whose α ≥ 1/255 box covers it, as bitsets in depth order.
//!
//! The tile's depth-ordered list (binned by the α box, see `project.rs`) is walked once, prefetching
//! ahead (its entries are scattered over the depth-sorted array). Each Gaussian whose box holds a pixel
//! centre of the tile is copied into a compact per-tile array (one 36-byte record, L1-resident while the
//! tile is blended) and its box is recorded as four bytes: first/last tile-local row, first/last group.
//! Then, per 64 Gaussians, one byte comparison per row turns those ranges into a 64-bit set per
//! (row, group): bit `j` of word `c` of a set is Gaussian `64·c + j`, so walking the set bits in order
//! keeps depth order. Building the sets costs a few vector operations per 64 Gaussians and row, where
//! appending each Gaussian to every (row, group) list it covers cost a dependent store per entry.
//! The byte comparisons have AVX2 (`avx2`) and NEON (`neon`) versions, selected with the blend kernel
//! in `blend.rs`; both build exactly the portable sets (tested).

use crate::tile_splat::{SplatBlend, TileSplat};

/// Gaussians per bitset word.
pub(crate) const CHUNK: usize = 64;
/// Pixels per group (one AVX2 vector, two NEON vectors).
pub(crate) const LANES: usize = 8;
const TS: usize = crate::options::TILE_SIZE as usize;
pub(crate) const GROUPS_PER_ROW: usize = TS / LANES;
const SLOTS: usize = TS * GROUPS_PER_ROW;
/// A first row that no row reaches: marks the padding after the last Gaussian.
const NO_ROW: u8 = 0x7F;

/// The tile's pixel rectangle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TileGeom {
    pub x0: usize,
    pub y0: usize,
    pub rows: usize,
    pub cols: usize,
}

impl TileGeom {
    /// Tile `(tile_x, tile_y)` of a `width × height` image (edge tiles are clipped).
    pub fn new(width: u32, height: u32, tile_x: u32, tile_y: u32) -> Self {
        let x0 = tile_x as usize * TS;
        let y0 = tile_y as usize * TS;
        Self { x0, y0, rows: (height as usize - y0).min(TS), cols: (width as usize - x0).min(TS) }
    }
}

/// Per-thread scratch of the tile kernel (reused: no allocation once it has grown to the largest tile).
#[derive(Debug, Default)]
pub(crate) struct TileSets {
    /// The tile's Gaussians whose box holds one of its pixel centres, in depth order.
    pub splats: Vec<TileSplat>,
    /// Per Gaussian (padded to whole chunks): first and last tile-local row, first and last group.
    row_lo: Vec<u8>,
    row_hi: Vec<u8>,
    group_lo: Vec<u8>,
    group_hi: Vec<u8>,
    /// Slot `r·2 + g` (tile-local row `r`, group `g`) owns `sets[slot·chunks .. (slot + 1)·chunks]`.
    sets: Vec<u64>,
    chunks: usize,
}

impl TileSets {
    /// The depth-ordered set of (tile-local) row `row`, group `group`.
    #[inline(always)]
    pub fn set(&self, row: usize, group: usize) -> &[u64] {
        let slot = row * GROUPS_PER_ROW + group;
        &self.sets[slot * self.chunks..(slot + 1) * self.chunks]
    }
}

/// Tile-local rows `[r0, r1]` and 8-pixel groups `[g0, g1]` whose pixel centres may lie in `s`'s α box.
#[inline(always)]
fn splat_span(s: &SplatBlend, geo: &TileGeom) -> Option<[u8; 4]> {
    let (x0, y0) = (geo.x0 as f32, geo.y0 as f32);
    let (mean_x, mean_y) = (s.splat.mean_x, s.splat.mean_y);
    let fy0 = (mean_y - s.alpha_ext_y - 0.5 - y0).ceil().max(0.0);
    let fy1 = (mean_y + s.alpha_ext_y - 0.5 - y0).floor().min(geo.rows as f32 - 1.0);
    let fx0 = (mean_x - s.alpha_ext_x - 0.5 - x0).ceil().max(0.0);
    let fx1 = (mean_x + s.alpha_ext_x - 0.5 - x0).floor().min(geo.cols as f32 - 1.0);
    if !(fy1 >= fy0 && fx1 >= fx0) {
        return None;
    }
    // In [0, 15] here (the test above fails for NaN), so the cheap i32 conversion is exact.
    let group = |fx: f32| (fx as i32 as usize / LANES) as u8;
    Some([fy0 as i32 as u8, fy1 as i32 as u8, group(fx0), group(fx1)])
}

/// How many list entries ahead [`gather`] prefetches.
const PREFETCH_AHEAD: usize = 12;

/// A hint to load `value`'s cache line (a no-op off x86-64).
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and SSE is part of x86-64.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Compacts the tile's Gaussians and records their row and group ranges (then call a set builder).
#[inline(always)]
fn compact(geo: &TileGeom, list: &[u32], splats: &[SplatBlend], sc: &mut TileSets) {
    sc.splats.clear();
    sc.row_lo.clear();
    sc.row_hi.clear();
    sc.group_lo.clear();
    sc.group_hi.clear();
    for (pos, &idx) in list.iter().enumerate() {
        // The tile's entries are scattered over the depth-sorted array: fetch ahead to hide the misses.
        if let Some(&ahead) = list.get(pos + PREFETCH_AHEAD) {
            prefetch(&splats[ahead as usize]);
        }
        let s = &splats[idx as usize];
        let Some([r0, r1, g0, g1]) = splat_span(s, geo) else {
            continue;
        };
        sc.splats.push(s.splat);
        sc.row_lo.push(r0);
        sc.row_hi.push(r1);
        sc.group_lo.push(g0);
        sc.group_hi.push(g1);
    }
    sc.chunks = sc.splats.len().div_ceil(CHUNK);
    let padded = sc.chunks * CHUNK;
    sc.row_lo.resize(padded, NO_ROW);
    sc.row_hi.resize(padded, 0);
    sc.group_lo.resize(padded, 0);
    sc.group_hi.resize(padded, 0);
    sc.sets.resize(SLOTS * sc.chunks, 0);
}

/// Step 1, portable build.
pub(crate) fn gather(geo: &TileGeom, list: &[u32], splats: &[SplatBlend], sc: &mut TileSets) {
    compact(geo, list, splats, sc);
    let chunks = sc.chunks;
    for c in 0..chunks {
        let range = c * CHUNK..(c + 1) * CHUNK;
        let (lo, hi) = (&sc.row_lo[range.clone()], &sc.row_hi[range.clone()]);
        let (glo, ghi) = (&sc.group_lo[range.clone()], &sc.group_hi[range]);
        let bits = |pred: &dyn Fn(usize) -> bool| (0..CHUNK).fold(0u64, |m, j| m | (u64::from(pred(j)) << j));
        let in_group = [bits(&|j| glo[j] == 0), bits(&|j| ghi[j] == 1)];
        for row in 0..geo.rows {
            let r = row as u8;
            let in_row = bits(&|j| lo[j] <= r && r <= hi[j]);
            for (g, in_g) in in_group.iter().enumerate() {
                sc.sets[(row * GROUPS_PER_ROW + g) * chunks + c] = in_row & in_g;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    use super::{compact, TileGeom, TileSets, CHUNK, GROUPS_PER_ROW};
    use crate::tile_splat::SplatBlend;

    /// [`super::gather`] with the sets built by AVX2 byte comparisons (same sets).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn gather(geo: &TileGeom, list: &[u32], splats: &[SplatBlend], sc: &mut TileSets) {
        compact(geo, list, splats, sc);
        let chunks = sc.chunks;
        // SAFETY: each load reads 32 bytes at `j < chunks·CHUNK − 31` of vectors padded to `chunks·CHUNK`.
        let load = |v: &[u8], j: usize| unsafe { _mm256_loadu_si256(v.as_ptr().add(j).cast()) };
        // Bit j of the 64-bit result is the top bit of byte j of `a` (first 32) then `b`.
        let mask64 = |a: __m256i, b: __m256i| {
            u64::from(_mm256_movemask_epi8(a) as u32) | u64::from(_mm256_movemask_epi8(b) as u32) << 32
        };
        for c in 0..chunks {
            let j = c * CHUNK;
            let (lo, hi) =
                ([load(&sc.row_lo, j), load(&sc.row_lo, j + 32)], [load(&sc.row_hi, j), load(&sc.row_hi, j + 32)]);
            let (glo, ghi) = (
                [load(&sc.group_lo, j), load(&sc.group_lo, j + 32)],
                [load(&sc.group_hi, j), load(&sc.group_hi, j + 32)],
            );
            let zero = _mm256_setzero_si256();
            let one = _mm256_set1_epi8(1);
            let in_group = [
                mask64(_mm256_cmpeq_epi8(glo[0], zero), _mm256_cmpeq_epi8(glo[1], zero)),
                mask64(_mm256_cmpeq_epi8(ghi[0], one), _mm256_cmpeq_epi8(ghi[1], one)),
            ];
            for row in 0..geo.rows {
                let r = _mm256_set1_epi8(row as i8);
                // Outside the row range: lo > r or r > hi (signed bytes; every value is in [0, 127]).
                let out = |h: usize| _mm256_or_si256(_mm256_cmpgt_epi8(lo[h], r), _mm256_cmpgt_epi8(r, hi[h]));
                let in_row = !mask64(out(0), out(1));
                for (g, in_g) in in_group.iter().enumerate() {
                    sc.sets[(row * GROUPS_PER_ROW + g) * chunks + c] = in_row & in_g;
                }
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon {
    use std::arch::aarch64::*;

    use super::{compact, TileGeom, TileSets, CHUNK, GROUPS_PER_ROW};
    use crate::tile_splat::SplatBlend;

    /// Bit `j` of the result is the top bit of byte `j` of the 64 bytes `m` (each byte 0x00 or 0xFF).
    /// NEON has no movemask: keep bit `j mod 8` of byte `j`, then three rounds of pairwise byte
    /// additions sum each run of 8 bytes into one (distinct bits, so the sum is their OR), in order.
    #[inline]
    #[target_feature(enable = "neon")]
    fn mask64(m: [uint8x16_t; 4]) -> u64 {
        const WEIGHTS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        // SAFETY: `WEIGHTS` holds 16 bytes.
        let w = unsafe { vld1q_u8(WEIGHTS.as_ptr()) };
        let b = m.map(|v| vandq_u8(v, w));
        let pairs = [vpaddq_u8(b[0], b[1]), vpaddq_u8(b[2], b[3])];
        let quads = vpaddq_u8(pairs[0], pairs[1]);
        vgetq_lane_u64::<0>(vreinterpretq_u64_u8(vpaddq_u8(quads, quads)))
    }

    /// [`super::gather`] with the sets built by NEON byte comparisons (same sets).
    ///
    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn gather(geo: &TileGeom, list: &[u32], splats: &[SplatBlend], sc: &mut TileSets) {
        compact(geo, list, splats, sc);
        let chunks = sc.chunks;
        // The 64 bytes of chunk `c` of a per-Gaussian byte vector (padded to `chunks·CHUNK`).
        let load = |v: &[u8], c: usize| -> [uint8x16_t; 4] {
            let bytes = &v[c * CHUNK..(c + 1) * CHUNK];
            // SAFETY: each load reads 16 bytes at offset 16·h < 64 of the 64-byte slice `bytes`.
            std::array::from_fn(|h| unsafe { vld1q_u8(bytes.as_ptr().add(16 * h)) })
        };
        for c in 0..chunks {
            let (lo, hi) = (load(&sc.row_lo, c), load(&sc.row_hi, c));
            let (glo, ghi) = (load(&sc.group_lo, c), load(&sc.group_hi, c));
            let in_group =
                [mask64(glo.map(|v| vceqq_u8(v, vdupq_n_u8(0)))), mask64(ghi.map(|v| vceqq_u8(v, vdupq_n_u8(1))))];
            for row in 0..geo.rows {
                let r = vdupq_n_u8(row as u8);
                // In the row range: lo ≤ r ≤ hi (unsigned bytes; the padding's lo is above every row).
                let in_row = mask64(std::array::from_fn(|h| vandq_u8(vcleq_u8(lo[h], r), vcleq_u8(r, hi[h]))));
                for (g, in_g) in in_group.iter().enumerate() {
                    sc.sets[(row * GROUPS_PER_ROW + g) * chunks + c] = in_row & in_g;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Splat2D;

    /// Gaussians scattered around and across a tile, some whose box misses every pixel centre.
    fn scattered(n: usize, corner: f32) -> Vec<SplatBlend> {
        let mut state = 7u32;
        let mut rnd = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        (0..n)
            .map(|_| {
                SplatBlend::new(&Splat2D {
                    mean_x: corner - 6.0 + rnd() * 28.0,
                    mean_y: corner - 6.0 + rnd() * 28.0,
                    alpha_ext_x: 0.2 + rnd() * 9.0,
                    alpha_ext_y: 0.2 + rnd() * 9.0,
                    ..Default::default()
                })
            })
            .collect()
    }

    /// Members of a set, in order, by brute force over the recorded spans.
    fn members(sc: &TileSets, row: usize, group: usize) -> Vec<usize> {
        let set = sc.set(row, group);
        (0..set.len() * CHUNK).filter(|&k| set[k / CHUNK] >> (k % CHUNK) & 1 == 1).collect()
    }

    #[test]
    fn sets_hold_exactly_the_gaussians_covering_each_row_and_group() {
        // A full tile and a clipped one (13 rows, 5 columns: one group).
        for geo in [TileGeom { x0: 16, y0: 16, rows: 16, cols: 16 }, TileGeom { x0: 32, y0: 32, rows: 13, cols: 5 }] {
            let splats = scattered(300, geo.x0 as f32);
            let list: Vec<u32> = (0..splats.len() as u32).collect();
            let mut sc = TileSets::default();
            gather(&geo, &list, &splats, &mut sc);
            let kept: Vec<[u8; 4]> = list.iter().filter_map(|&i| splat_span(&splats[i as usize], &geo)).collect();
            assert_eq!(sc.splats.len(), kept.len());
            assert!(kept.len() > CHUNK && kept.len() < splats.len(), "{} kept", kept.len());
            for row in 0..geo.rows {
                for group in 0..GROUPS_PER_ROW {
                    let want: Vec<usize> = (0..kept.len())
                        .filter(|&k| {
                            let [r0, r1, g0, g1] = kept[k].map(usize::from);
                            (r0..=r1).contains(&row) && (g0..=g1).contains(&group)
                        })
                        .collect();
                    assert_eq!(members(&sc, row, group), want, "row {row}, group {group}");
                }
            }
            #[cfg(target_arch = "x86_64")]
            if worldflow_base::cpu::has_avx2() {
                let mut sc_avx2 = TileSets::default();
                // SAFETY: AVX2 support checked just above.
                unsafe { avx2::gather(&geo, &list, &splats, &mut sc_avx2) };
                for row in 0..geo.rows {
                    for group in 0..GROUPS_PER_ROW {
                        assert_eq!(sc_avx2.set(row, group), sc.set(row, group), "row {row}, group {group}");
                    }
                }
            }
            #[cfg(target_arch = "aarch64")]
            if worldflow_base::cpu::has_neon() {
                let mut sc_neon = TileSets::default();
                // SAFETY: NEON support checked just above.
                unsafe { neon::gather(&geo, &list, &splats, &mut sc_neon) };
                assert_eq!(sc_neon.splats.len(), sc.splats.len());
                for row in 0..geo.rows {
                    for group in 0..GROUPS_PER_ROW {
                        assert_eq!(sc_neon.set(row, group), sc.set(row, group), "row {row}, group {group}");
                    }
                }
            } else {
                println!("no NEON on this CPU: the NEON sets are not compared");
            }
        }
    }
}
