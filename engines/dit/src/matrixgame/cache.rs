//! The fixed-size rolling KV cache of Matrix-Game's causal attention (`causal_model.py:150-193`,
//! `action_module.py`, mouse and keyboard branches), with the official index rules:
//!
//! - new entries for global positions `[current_start, current_end)` are written at
//!   `[local_end − n, local_end)`, `local_end = old_local_end + current_end − global_end`;
//! - when `current_end > global_end` and the entries do not fit, the oldest `evicted` entries after
//!   the first `sink` ones roll out (everything after them moves down) before the write;
//! - repeating a call at the same `current_start` overwrites the same slots;
//! - attention reads `[max(0, local_end − window), local_end)`.
//!
//! `batch` independent sequences share the indices (the mouse cache holds one per spatial token).
//! Stale slots past `local_end` are kept, as upstream keeps them, so a snapshot compares whole.

use crate::error::{bad_input, Result};

/// One layer's cache: `k`, `v` are [batch, capacity, row].
#[derive(Clone, Debug, PartialEq)]
pub struct RollingKv {
    pub batch: usize,
    pub capacity: usize,
    pub row: usize,
    pub sink: usize,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub global_end: usize,
    pub local_end: usize,
}

impl RollingKv {
    pub fn new(batch: usize, capacity: usize, row: usize, sink: usize) -> Self {
        let n = batch * capacity * row;
        RollingKv { batch, capacity, row, sink, k: vec![0.0; n], v: vec![0.0; n], global_end: 0, local_end: 0 }
    }

    /// Writes `n` new entries per sequence (`k`, `v` [batch, n, row]) for global positions
    /// `[current_start, current_start + n)`, rolling first when needed; returns the slot range
    /// attention reads, `[max(0, local_end − window), local_end)`.
    pub fn write(
        &mut self,
        what: &str,
        current_start: usize,
        n: usize,
        k: &[f32],
        v: &[f32],
        window: usize,
    ) -> Result<(usize, usize)> {
        let (cap, row) = (self.capacity, self.row);
        if k.len() != self.batch * n * row || v.len() != k.len() {
            return Err(bad_input(what, format!("{} keys for batch {} × {n} × {row}", k.len(), self.batch)));
        }
        let current_end = current_start + n;
        let mut evicted = 0;
        if current_end > self.global_end && n + self.local_end > cap {
            evicted = n + self.local_end - cap;
            let rolled = self.local_end.checked_sub(evicted + self.sink).ok_or_else(|| {
                bad_input(what, format!("{n} new entries do not fit a cache of {cap} with {} sink entries", self.sink))
            })?;
            let (from, to) = (self.sink + evicted, self.sink);
            for b in 0..self.batch {
                let base = b * cap * row;
                self.k.copy_within(base + from * row..base + (from + rolled) * row, base + to * row);
                self.v.copy_within(base + from * row..base + (from + rolled) * row, base + to * row);
            }
        }
        let local_end = (self.local_end + current_end)
            .checked_sub(self.global_end + evicted)
            .filter(|&e| e >= n && e <= cap)
            .ok_or_else(|| {
                bad_input(
                    what,
                    format!(
                        "positions {current_start}..{current_end} cannot be placed (cache global end {}, local end {}, capacity {cap})",
                        self.global_end, self.local_end
                    ),
                )
            })?;
        let local_start = local_end - n;
        for b in 0..self.batch {
            let dst = b * cap * row + local_start * row;
            self.k[dst..dst + n * row].copy_from_slice(&k[b * n * row..(b + 1) * n * row]);
            self.v[dst..dst + n * row].copy_from_slice(&v[b * n * row..(b + 1) * n * row]);
        }
        self.global_end = current_end;
        self.local_end = local_end;
        Ok((local_end.saturating_sub(window), local_end))
    }

    /// Keys and values of sequence `b`, slots `lo..hi`.
    pub fn slice(&self, b: usize, lo: usize, hi: usize) -> (&[f32], &[f32]) {
        let base = b * self.capacity * self.row;
        (&self.k[base + lo * self.row..base + hi * self.row], &self.v[base + lo * self.row..base + hi * self.row])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_overwrites_and_rolls_like_upstream() {
        // 6-slot cache, blocks of 3: ends 3/3, repeat at the same start, 6/6, then 9 → rolls to 6.
        let mut c = RollingKv::new(1, 6, 1, 0);
        assert_eq!(c.write("t", 0, 3, &[1., 2., 3.], &[1., 2., 3.], 6).unwrap(), (0, 3));
        assert_eq!(c.write("t", 0, 3, &[4., 5., 6.], &[4., 5., 6.], 6).unwrap(), (0, 3));
        assert_eq!(c.write("t", 3, 3, &[7., 8., 9.], &[7., 8., 9.], 6).unwrap(), (0, 6));
        assert_eq!(c.k, [4., 5., 6., 7., 8., 9.]);
        assert_eq!(c.write("t", 6, 3, &[10., 11., 12.], &[0.; 3], 4).unwrap(), (2, 6));
        assert_eq!(c.k, [7., 8., 9., 10., 11., 12.]);
        assert_eq!((c.global_end, c.local_end), (9, 6));
        // With one sink slot the first entry stays.
        let mut s = RollingKv::new(1, 4, 1, 1);
        s.write("t", 0, 2, &[1., 2.], &[0.; 2], 4).unwrap();
        s.write("t", 2, 2, &[3., 4.], &[0.; 2], 4).unwrap();
        s.write("t", 4, 2, &[5., 6.], &[0.; 2], 4).unwrap();
        assert_eq!(s.k, [1., 4., 5., 6.]);
        // Too many entries at once is an error, not a panic.
        assert!(RollingKv::new(1, 2, 1, 0).write("t", 0, 3, &[0.; 3], &[0.; 3], 2).is_err());
    }
}
