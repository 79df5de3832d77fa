//! 3D rotary position embedding of Wan2.1 (`rope_params` / `rope_apply` in `wan/modules/model.py`).
//!
//! The head dim `d` holds `d/2` complex pairs `(x[2j], x[2j+1])` (adjacent elements). The pairs are
//! split into time / height / width parts of `c − 2⌊c/3⌋`, `⌊c/3⌋`, `⌊c/3⌋` pairs (`c = d/2`).
//! Part `p` with `n_p` pairs rotates pair `j` by `pos_p · θ^(−2j / (2 n_p))`, θ = 10000, where
//! `pos_p` is the token's (time, row, column) index. Angles are computed in f64 like upstream.
//! The time index is an explicit input so that chunked generation can offset or reframe it.
//!
//! [`Rope3d::diffusers`] is diffusers' / WorldPlay's `WanRotaryPosEmbed`: its table is built with
//! time / h / w widths `d − 4⌊d/6⌋`, `2⌊d/6⌋`, `2⌊d/6⌋` (each `θ^(−2i/width)`, repeated twice) but split
//! for the positions with `d − 2⌊d/3⌋`, `⌊d/3⌋`, `⌊d/3⌋`; pair `j` takes its cosine from column `2j`
//! and its sine from column `2j+1`. Both agree with Wan2.1 when `d mod 6 ∈ {0, 1, 2}` (d = 32, 128).

/// Per-token rotation table: `cos`/`sin` of shape [tokens, d/2].
#[derive(Clone, Debug)]
pub struct RopeTable {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub half: usize,
}

/// Angle source of one side (cosine or sine) of a pair: position axis (0 time, 1 row, 2 column) and
/// frequency.
type AxisFreq = (usize, f64);

/// Frequencies of every pair of one head dim: `(cosine source, sine source)`.
#[derive(Clone, Debug)]
pub struct Rope3d {
    pairs: Vec<(AxisFreq, AxisFreq)>,
}

impl Rope3d {
    /// Wan2.1's split: `c = d/2` pairs in `c − 2⌊c/3⌋`, `⌊c/3⌋`, `⌊c/3⌋`.
    pub fn new(head_dim: usize) -> Self {
        let c = head_dim / 2;
        let parts = [c - 2 * (c / 3), c / 3, c / 3];
        let mut pairs = Vec::with_capacity(c);
        for (axis, &n) in parts.iter().enumerate() {
            for j in 0..n {
                let f = 1.0 / 10000f64.powf((2 * j) as f64 / (2 * n) as f64);
                pairs.push(((axis, f), (axis, f)));
            }
        }
        Rope3d { pairs }
    }

    /// diffusers' `WanRotaryPosEmbed` (WorldPlay), quirk included (module docs).
    pub fn diffusers(head_dim: usize) -> Self {
        let d = head_dim;
        let hb = 2 * (d / 6);
        let built = [d - 2 * hb, hb, hb];
        let split = [d - 2 * (d / 3), d / 3, d / 3];
        // The part a column falls in, and its offset there.
        let locate = |parts: &[usize; 3], col: usize| -> (usize, usize) {
            if col < parts[0] {
                (0, col)
            } else if col < parts[0] + parts[1] {
                (1, col - parts[0])
            } else {
                (2, col - parts[0] - parts[1])
            }
        };
        let source = |col: usize| -> AxisFreq {
            let (part, local) = locate(&built, col);
            let f = 1.0 / 10000f64.powf((2 * (local / 2)) as f64 / built[part] as f64);
            (locate(&split, col).0, f)
        };
        Rope3d { pairs: (0..d / 2).map(|j| (source(2 * j), source(2 * j + 1))).collect() }
    }

    /// Table for tokens at positions `(t, h, w)`.
    pub fn table(&self, positions: &[[usize; 3]]) -> RopeTable {
        let half = self.pairs.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for pos in positions {
            for &((ca, cf), (sa, sf)) in &self.pairs {
                cos.push((pos[ca] as f64 * cf).cos() as f32);
                sin.push((pos[sa] as f64 * sf).sin() as f32);
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
        let count = |axis: usize| r.pairs.iter().filter(|p| p.0 .0 == axis).count();
        assert_eq!([count(0), count(1), count(2)], [22, 21, 21]);
    }

    #[test]
    fn diffusers_table_equals_wan_where_the_splits_agree_and_differs_at_64() {
        let positions = Rope3d::grid_positions(&[0, 3, 7], 3, 5);
        for d in [24, 32, 128] {
            let (a, b) = (Rope3d::new(d).table(&positions), Rope3d::diffusers(d).table(&positions));
            assert_eq!((a.cos, a.sin), (b.cos, b.sin), "head dim {d}");
        }
        // d = 64: built 24/20/20, split 22/21/21: columns 22, 23 take time-table frequencies at row positions.
        let (a, b) = (Rope3d::new(64).table(&positions), Rope3d::diffusers(64).table(&positions));
        assert_ne!(a.cos, b.cos);
        let r = Rope3d::diffusers(64);
        assert_eq!((r.pairs[11].0 .0, r.pairs[11].1 .0), (1, 1));
        assert_eq!(r.pairs[11].0 .1, 1.0 / 10000f64.powf(22.0 / 24.0));
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
