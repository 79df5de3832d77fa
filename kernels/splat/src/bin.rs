//! Tile binning: from Gaussians already sorted by depth, build per-tile lists (counting sort by tile).
//!
//! Because the input is depth-sorted with ties in Gaussian-index order and the counting sort is stable,
//! each tile's list is ordered by (depth, index) — the same order as the reference's stable sort of
//! `tile << 32 | depth` keys. `offsets` has `n_tiles + 1` entries; tile `t`'s list is
//! `list[offsets[t]..offsets[t+1]]`, whose entries index the depth-sorted arrays.
//!
//! Parallel and deterministic: the input is cut into [`BIN_CHUNKS`] contiguous chunks; each counts its
//! instances per tile, the counts are prefix-summed tile-major then chunk-minor (so chunk `c`'s entries
//! of a tile come after those of chunks `< c`, preserving depth order), and each chunk scatters into its
//! own disjoint positions. The result is identical to the serial counting sort's.

use rayon::prelude::*;

use worldflow_base::DisjointWriter;

/// Number of input chunks (a few per core keeps the threads balanced).
pub(crate) const BIN_CHUNKS: usize = 8;

/// Reusable scratch of [`bin_tiles`].
#[derive(Debug, Default)]
pub(crate) struct BinScratch {
    /// `counts[c·n_tiles + t]`: chunk `c`'s instances in tile `t`, then its write cursor there.
    counts: Vec<u32>,
}

/// Calls `f` with the index of every tile of `r = [x0, y0, x1, y1)`, row by row.
#[inline(always)]
fn for_each_tile(r: &[u32; 4], tiles_x: u32, mut f: impl FnMut(usize)) {
    for ty in r[1]..r[3] {
        let row = (ty * tiles_x) as usize;
        for tx in r[0]..r[2] {
            f(row + tx as usize);
        }
    }
}

/// The number of (tile, Gaussian) pairs [`bin_tiles`] would list: the sum of the rectangles' areas, in 64
/// bits (the list itself is indexed by `u32`; callers check this against their budget first). `min_len`:
/// rayon's `with_min_len` of the parallel loops (`usize::MAX`: all on the calling thread).
pub(crate) fn count_instances(rects: &[[u32; 4]], min_len: usize) -> u64 {
    rects
        .par_chunks(4096)
        .with_min_len(min_len)
        .map(|chunk| chunk.iter().map(|r| u64::from(r[2] - r[0]) * u64::from(r[3] - r[1])).sum::<u64>())
        .sum()
}

/// `rects[i] = [x0, y0, x1, y1)` in tiles for the i-th depth-sorted Gaussian. The caller guarantees
/// [`count_instances`]` < u32::MAX`.
pub(crate) fn bin_tiles(
    rects: &[[u32; 4]],
    tiles_x: u32,
    n_tiles: usize,
    offsets: &mut Vec<u32>,
    list: &mut Vec<u32>,
    scratch: &mut BinScratch,
    min_len: usize,
) {
    let chunk_len = rects.len().div_ceil(BIN_CHUNKS).max(1);
    let counts = &mut scratch.counts;
    counts.clear();
    counts.resize(BIN_CHUNKS * n_tiles, 0);
    counts.par_chunks_mut(n_tiles.max(1)).zip(rects.par_chunks(chunk_len)).with_min_len(min_len).for_each(
        |(count, chunk)| {
            for r in chunk {
                for_each_tile(r, tiles_x, |t| count[t] += 1);
            }
        },
    );
    // Exclusive prefix sum, tile-major then chunk-minor; counts become write cursors.
    offsets.clear();
    offsets.resize(n_tiles + 1, 0);
    let mut total = 0u32;
    for t in 0..n_tiles {
        offsets[t] = total;
        for c in 0..BIN_CHUNKS {
            let slot = &mut counts[c * n_tiles + t];
            let n = *slot;
            *slot = total;
            total += n;
        }
    }
    offsets[n_tiles] = total;
    list.clear();
    list.resize(total as usize, 0);
    let out = DisjointWriter::new(list);
    counts.par_chunks_mut(n_tiles.max(1)).zip(rects.par_chunks(chunk_len)).enumerate().with_min_len(min_len).for_each(
        |(c, (cursor, chunk))| {
            for (j, r) in chunk.iter().enumerate() {
                let i = (c * chunk_len + j) as u32;
                for_each_tile(r, tiles_x, |t| {
                    // SAFETY: cursor ranges of different (chunk, tile) pairs are disjoint and each lies
                    // within `list` (they partition `0..total`), so every index is written exactly once.
                    unsafe { out.write(cursor[t] as usize, i) };
                    cursor[t] += 1;
                });
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_in_input_order_per_tile() {
        let rects = [[0, 0, 2, 1], [1, 0, 2, 2], [0, 1, 1, 2]];
        let (mut offsets, mut list) = (Vec::new(), Vec::new());
        bin_tiles(&rects, 2, 4, &mut offsets, &mut list, &mut BinScratch::default(), 1);
        assert_eq!(offsets, vec![0, 1, 3, 4, 5]);
        assert_eq!(list, vec![0, 0, 1, 2, 1]);
    }

    #[test]
    fn parallel_binning_equals_serial_counting_sort() {
        let mut state = 7u32;
        let mut rnd = move |n: u32| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) % n
        };
        let (tiles_x, tiles_y) = (9u32, 5u32);
        let rects: Vec<[u32; 4]> = (0..1000)
            .map(|_| {
                let (x0, y0) = (rnd(tiles_x), rnd(tiles_y));
                [x0, y0, x0 + 1 + rnd(tiles_x - x0), y0 + 1 + rnd(tiles_y - y0)]
            })
            .collect();
        let n_tiles = (tiles_x * tiles_y) as usize;
        let mut expected: Vec<Vec<u32>> = vec![Vec::new(); n_tiles];
        for (i, r) in rects.iter().enumerate() {
            for ty in r[1]..r[3] {
                for tx in r[0]..r[2] {
                    expected[(ty * tiles_x + tx) as usize].push(i as u32);
                }
            }
        }
        let (mut offsets, mut list) = (Vec::new(), Vec::new());
        bin_tiles(&rects, tiles_x, n_tiles, &mut offsets, &mut list, &mut BinScratch::default(), 1);
        for (t, want) in expected.iter().enumerate() {
            assert_eq!(&list[offsets[t] as usize..offsets[t + 1] as usize], want.as_slice(), "tile {t}");
        }
    }
}
