//! Tile binning: from Gaussians already sorted by depth, build per-tile lists (counting sort by tile).
//!
//! Because the input is depth-sorted with ties in Gaussian-index order and the counting sort is stable,
//! each tile's list is ordered by (depth, index) — the same order as the reference's stable sort of
//! `tile << 32 | depth` keys. `offsets` has `n_tiles + 1` entries; tile `t`'s list is
//! `list[offsets[t]..offsets[t+1]]`, whose entries index the depth-sorted arrays.

/// `rects[i] = [x0, y0, x1, y1)` in tiles for the i-th depth-sorted Gaussian.
pub(crate) fn bin_tiles(rects: &[[u32; 4]], tiles_x: u32, n_tiles: usize, offsets: &mut Vec<u32>, list: &mut Vec<u32>) {
    offsets.clear();
    offsets.resize(n_tiles + 1, 0);
    for r in rects {
        for ty in r[1]..r[3] {
            let row = (ty * tiles_x) as usize;
            for tx in r[0]..r[2] {
                offsets[row + tx as usize + 1] += 1;
            }
        }
    }
    for t in 0..n_tiles {
        offsets[t + 1] += offsets[t];
    }
    let total = offsets[n_tiles] as usize;
    list.clear();
    list.resize(total, 0);
    // Write cursors: reuse the first n_tiles entries, then restore by shifting.
    for (i, r) in rects.iter().enumerate() {
        for ty in r[1]..r[3] {
            let row = (ty * tiles_x) as usize;
            for tx in r[0]..r[2] {
                let cursor = &mut offsets[row + tx as usize];
                list[*cursor as usize] = i as u32;
                *cursor += 1;
            }
        }
    }
    // After scattering, offsets[t] == end of tile t == start of tile t+1: shift right by one.
    for t in (1..=n_tiles).rev() {
        offsets[t] = offsets[t - 1];
    }
    offsets[0] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_in_input_order_per_tile() {
        let rects = [[0, 0, 2, 1], [1, 0, 2, 2], [0, 1, 1, 2]];
        let (mut offsets, mut list) = (Vec::new(), Vec::new());
        bin_tiles(&rects, 2, 4, &mut offsets, &mut list);
        assert_eq!(offsets, vec![0, 1, 3, 4, 5]);
        assert_eq!(list, vec![0, 0, 1, 2, 1]);
    }
}
