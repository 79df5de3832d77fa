//! Guidance combinators over several forward passes of the same step.
//! - CFG, passes `[cond, uncond]`: `uncond + s·(cond − uncond)`.
//! - Multi-source inner guidance (DreamWorld), passes `[cond, uncond, cond_without_1, …,
//!   cond_without_n]`: `uncond + Σᵢ wᵢ·(cond − cond_without_i)`.
//!   With one source whose removal gives `uncond`, this is CFG.

/// How the predictions of a step's passes are combined.
#[derive(Clone, Debug, PartialEq)]
pub enum Guidance {
    /// One pass, used as is.
    None,
    Cfg {
        scale: f32,
    },
    MultiSource {
        weights: Vec<f32>,
    },
}

impl Guidance {
    /// Number of forward passes per step.
    pub fn passes(&self) -> usize {
        match self {
            Guidance::None => 1,
            Guidance::Cfg { .. } => 2,
            Guidance::MultiSource { weights } => 2 + weights.len(),
        }
    }

    /// Combines `preds` (len = `passes()`, equal lengths). Panics on a count mismatch (a
    /// programming error: the generator checks it at construction).
    pub fn combine(&self, preds: &[Vec<f32>]) -> Vec<f32> {
        assert_eq!(preds.len(), self.passes(), "guidance: wrong number of predictions");
        match self {
            Guidance::None => preds[0].clone(),
            Guidance::Cfg { scale } => preds[1].iter().zip(&preds[0]).map(|(u, c)| u + scale * (c - u)).collect(),
            Guidance::MultiSource { weights } => {
                let (cond, mut out) = (&preds[0], preds[1].clone());
                for (w, without) in weights.iter().zip(&preds[2..]) {
                    for ((o, c), wo) in out.iter_mut().zip(cond).zip(without) {
                        *o += w * (c - wo);
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_and_multi_source() {
        let (c, u) = (vec![2.0f32, 1.0], vec![1.0f32, 1.0]);
        assert_eq!(Guidance::Cfg { scale: 3.0 }.combine(&[c.clone(), u.clone()]), vec![4.0, 1.0]);
        // Single source equal to uncond → CFG.
        let g = Guidance::MultiSource { weights: vec![3.0] };
        assert_eq!(g.combine(&[c.clone(), u.clone(), u.clone()]), vec![4.0, 1.0]);
        let g = Guidance::MultiSource { weights: vec![5.0, 1.0] };
        let out = g.combine(&[c, u, vec![1.5, 1.0], vec![0.0, 0.0]]);
        assert_eq!(out, vec![1.0 + 5.0 * 0.5 + 2.0, 1.0 + 1.0]);
    }
}
