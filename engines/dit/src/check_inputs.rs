//! The input tensors of `worldflow model check --kind dit`, read and checked against the config.
//!
//! Required: `x` [C, F, H, W], `t` [1] or [F], `context` [L, text_dim].
//! Optional (each used when present):
//! - `actions` [F]: discrete action label per latent frame, integer-valued in `0..action_classes`
//!   (the label embedding added to the timestep embedding; needs `action_classes` in the config);
//! - `c2w` [F, 4, 4] and `intrinsics` [F, 4]: per-frame camera-to-world pose (OpenCV axes,
//!   row-major) and pixel intrinsics `(fx, fy, cx, cy)` for the PRoPE camera branch (needs
//!   `camera_attention`); both or neither;
//! - `rope_time` [F]: RoPE time index per frame (default 0, 1, …);
//! - `groups` [G]: block-causal group sizes in frames, summing to F (default: full attention).

use crate::config::Config;
use crate::error::{bad_input, Result};
use crate::model::FrameCond;
use crate::prope::Camera;
use crate::tensor::{Tensor, TensorMap};

/// A forward's inputs, validated.
#[derive(Clone, Debug)]
pub struct CheckInputs {
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    pub conds: Vec<FrameCond>,
    pub rope_time: Vec<usize>,
    pub groups: Option<Vec<usize>>,
    /// Context rows (≤ text_len).
    pub context_rows: usize,
    /// Names of the optional tensors that were used, in file order of the docs.
    pub used_optional: Vec<&'static str>,
}

fn shape_err(name: &str, t: &Tensor, want: String) -> crate::error::DitError {
    bad_input(name, format!("shape {:?}, expected {want}", t.shape))
}

/// Non-negative integers from a float tensor (integer tensors are loaded as f32).
fn indices(name: &str, t: &Tensor) -> Result<Vec<usize>> {
    t.data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f32 {
                Ok(v as usize)
            } else {
                Err(bad_input(name, format!("element {i} = {v} is not a non-negative integer")))
            }
        })
        .collect()
}

impl CheckInputs {
    /// Reads and checks every input of `tensors` (`origin` names the file in errors).
    pub fn parse(cfg: &Config, tensors: &TensorMap, origin: &str) -> Result<Self> {
        let get = |name: &str| tensors.get(name).ok_or_else(|| bad_input(name, format!("missing from {origin}")));
        let x = get("x")?;
        let (frames, height, width) = match x.shape.as_slice() {
            [c, f, h, w] if *c == cfg.in_dim => (*f, *h, *w),
            _ => return Err(shape_err("x", x, format!("[{}, F, H, W]", cfg.in_dim))),
        };
        let t = get("t")?;
        let timesteps: Vec<f32> = match t.data.len() {
            1 => vec![t.data[0]; frames],
            l if l == frames => t.data.clone(),
            _ => return Err(shape_err("t", t, format!("[1] or [{frames}] (one timestep per frame)"))),
        };
        let context = get("context")?;
        let context_rows = match context.shape.as_slice() {
            [l, td] if *td == cfg.text_dim && *l <= cfg.text_len => *l,
            _ => return Err(shape_err("context", context, format!("[L ≤ {}, {}]", cfg.text_len, cfg.text_dim))),
        };
        let mut conds: Vec<FrameCond> = timesteps.iter().map(|&ts| FrameCond::at(ts)).collect();
        let mut used_optional = Vec::new();

        if let Some(a) = tensors.get("actions") {
            let classes = cfg.action_classes.ok_or_else(|| {
                bad_input("actions", "given, but the config has no action branch (set `action_classes`)")
            })?;
            if a.shape != [frames] {
                return Err(shape_err("actions", a, format!("[{frames}] (one label per frame)")));
            }
            for (f, label) in indices("actions", a)?.into_iter().enumerate() {
                if label >= classes {
                    return Err(bad_input("actions", format!("frame {f}: label {label} not in 0..{classes}")));
                }
                conds[f].action = Some(label as u32);
            }
            used_optional.push("actions");
        }

        match (tensors.get("c2w"), tensors.get("intrinsics")) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(bad_input("intrinsics", format!("missing from {origin} (`c2w` is given; both or neither)")))
            }
            (None, Some(_)) => {
                return Err(bad_input("c2w", format!("missing from {origin} (`intrinsics` is given; both or neither)")))
            }
            (Some(pose), Some(k)) => {
                if !cfg.camera_attention {
                    return Err(bad_input(
                        "c2w",
                        "given, but the config has no camera branch (set `camera_attention`)",
                    ));
                }
                if pose.shape != [frames, 4, 4] {
                    return Err(shape_err("c2w", pose, format!("[{frames}, 4, 4] (camera-to-world per frame)")));
                }
                if k.shape != [frames, 4] {
                    return Err(shape_err("intrinsics", k, format!("[{frames}, 4] (fx, fy, cx, cy per frame)")));
                }
                for (f, cond) in conds.iter_mut().enumerate() {
                    let m = &pose.data[f * 16..(f + 1) * 16];
                    let world_from_camera = std::array::from_fn(|r| std::array::from_fn(|c| m[4 * r + c]));
                    let [fx, fy, cx, cy] = std::array::from_fn(|i| k.data[4 * f + i]);
                    let camera = Camera { world_from_camera, fx, fy, cx, cy };
                    if camera.prope_matrices().is_none() {
                        return Err(bad_input(
                            "c2w",
                            format!("frame {f}: singular or non-finite camera (or intrinsics with fx·fy = 0, cx ≤ 0 or cy ≤ 0)"),
                        ));
                    }
                    cond.camera = Some(camera);
                }
                used_optional.extend(["c2w", "intrinsics"]);
            }
        }

        let rope_time = match tensors.get("rope_time") {
            None => (0..frames).collect(),
            Some(r) if r.shape == [frames] => {
                used_optional.push("rope_time");
                indices("rope_time", r)?
            }
            Some(r) => return Err(shape_err("rope_time", r, format!("[{frames}]"))),
        };
        let groups = match tensors.get("groups") {
            None => None,
            Some(g) if g.shape.len() == 1 => {
                let sizes = indices("groups", g)?;
                if sizes.contains(&0) || sizes.iter().sum::<usize>() != frames {
                    return Err(bad_input("groups", format!("sizes {sizes:?} must be positive and sum to {frames}")));
                }
                used_optional.push("groups");
                Some(sizes)
            }
            Some(g) => return Err(shape_err("groups", g, "[G]".into())),
        };
        Ok(CheckInputs { frames, height, width, conds, rope_time, groups, context_rows, used_optional })
    }
}
