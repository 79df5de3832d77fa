//! 3D rotary position embedding of Wan2.1 (`rope_params` / `rope_apply` in `wan/modules/model.py`).
//!
//! The head dim `d` holds `d/2` complex pairs `(x[2j], x[2j+1])` (adjacent elements). The pairs are
//! split into time / height / width parts of `c − 2⌊c/3⌋`, `⌊c/3⌋`, `⌊c/3⌋` pairs (`c = d/2`).
//! Part `p` with `n_p` pairs rotates pair `j` by `pos_p · θ^(−2j / (2 n_p))`, θ = 10000, where
//! `pos_p` is the token's (time, row, column) index. Angles are computed in f64 like upstream.
//! The time index is an explicit input so that chunked generation can offset or reframe it.

/// Per-token rotation table: `cos`/`sin` of shape [tokens, d/2].
#[derive(Clone, Debug)]
pub struct RopeTable {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub half: usize,
}

/// Frequencies of the three parts for one head dim.
#[derive(Clone, Debug)]
pub struct Rope3d {
    inv_freq: [Vec<f64>; 3],
}

impl Rope3d {
    pub fn new(head_dim: usize) -> Self {
        let c = head_dim / 2;
        let parts = [c - 2 * (c / 3), c / 3, c / 3];
        let inv =
            |n: usize| -> Vec<f64> { (0..n).map(|j| 1.0 / 10000f64.powf((2 * j) as f64 / (2 * n) as f64)).collect() };
        Rope3d { inv_freq: [inv(parts[0]), inv(parts[1]), inv(parts[2])] }
    }

    /// Table for tokens at positions `(t, h, w)`.
    pub fn table(&self, positions: &[[usize; 3]]) -> RopeTable {
        let half: usize = self.inv_freq.iter().map(|f| f.len()).sum();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for pos in positions {
            for (axis, freqs) in self.inv_freq.iter().enumerate() {
                for f in freqs {
                    let a = pos[axis] as f64 * f;
                    cos.push(a.cos() as f32);
                    sin.push(a.sin() as f32);
                }
            }
        }
        RopeTable { cos, sin, half }
    }

    /// Positions of a frame-major token grid: frame `f` gets time index `time_index[f]`.
    pub fn grid_positions(time_index: &[usize], h: usize, w: usize) -> Vec<[usize; 3]> {
        let mut out = Vec::with_capacity(time_index.len() * h * w);
        for &t in time_index {
            for y in 0..h {
                for x in 0..w {
                    out.push([t, y, x]);
                }
            }
        }
        out
    }
}

/// Rotates `x` [tokens, heads·d] in place (every head with the same per-token table).
pub fn apply_rope(x: &mut [f32], heads: usize, table: &RopeTable) {
    let half = table.half;
    let row = heads * half * 2;
    crate::ops::par_rows(x, row, |tok, r| {
        let (c, s) = (&table.cos[tok * half..(tok + 1) * half], &table.sin[tok * half..(tok + 1) * half]);
        for hd in r.chunks_exact_mut(half * 2) {
            for j in 0..half {
                let (a, b) = (hd[2 * j], hd[2 * j + 1]);
                hd[2 * j] = a * c[j] - b * s[j];
                hd[2 * j + 1] = a * s[j] + b * c[j];
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_wan_for_head_dim_128() {
        let r = Rope3d::new(128);
        assert_eq!([r.inv_freq[0].len(), r.inv_freq[1].len(), r.inv_freq[2].len()], [22, 21, 21]);
    }

    #[test]
    fn rotation_is_relative() {
        // <R(p)q, R(p')k> depends only on p − p'.
        let r = Rope3d::new(16);
        let q: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        let k: Vec<f32> = (0..16).map(|i| (i as f32 * 0.91).cos()).collect();
        let dot = |pq: [usize; 3], pk: [usize; 3]| {
            let t = r.table(&[pq, pk]);
            let mut both = [q.clone(), k.clone()].concat();
            apply_rope(&mut both, 1, &t);
            (0..16).map(|i| both[i] * both[16 + i]).sum::<f32>()
        };
        let a = dot([5, 2, 3], [3, 1, 1]);
        let b = dot([9, 4, 7], [7, 3, 5]);
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        assert!((a - dot([5, 2, 3], [2, 1, 1])).abs() > 1e-4);
    }
}
