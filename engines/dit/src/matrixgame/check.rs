//! `check_matrixgame`: runs the golden stream of a Matrix-Game case file as it is (its inputs,
//! noise, re-noise and steps, through [`MatrixGameStream`]) and compares every call's flow
//! prediction and x0, the module traces, and the caches after each block.
//!
//! Case tensors (`dit_tiny_stream.case.safetensors` names): `steps` [S], `cond_concat`
//! [1, Cc, F, H, W], `visual_context` [1, L, clip], `mouse_cond` [1, N, m], `keyboard_cond` [1, N, k],
//! `noise` [1, C, F, H, W], `renoise` [B, S−1, T, C, H, W] (block, step, frame, …). References:
//! `call.{i}.{x, flow_pred, x0, trace.*}` for call `i = b·(S+1) + step` (step S = the context call)
//! and `cache_after_block.{b}.{kv_cache.l, kv_cache_mouse.l, kv_cache_keyboard.l}.{k, v,
//! global_end_index, local_end_index}`.

use super::config::MatrixGameConfig;
use super::model::{MatrixGameCaches, MatrixGameModel};
use super::stream::{MatrixGameStream, StreamCall, StreamSettings};
use crate::error::{bad_input, DitError, Result};
use crate::tensor::{load_safetensors, save_safetensors, Tensor, TensorMap};
use std::path::Path;

/// Errors of one call, each `max|ours − ref| / max|ref|`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallCheck {
    pub index: usize,
    pub block: usize,
    /// `denoise0`, `denoise1`, … or `context`.
    pub kind: String,
    pub flow_pred: f32,
    pub x0: f32,
    /// The call's input (our re-noised chain vs the reference's).
    pub x: f32,
    /// Module traces present in the case, by trace name.
    pub traces: Vec<(String, f32)>,
}

/// What [`check_matrixgame`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixGameCheckReport {
    pub calls: Vec<CallCheck>,
    /// Cache tensors after each block (`cache_after_block.b.kv_cache.l.k`, …): relative error.
    pub caches: Vec<(String, f32)>,
    /// Cache indices that differ from the reference (`name: ours vs ref`).
    pub index_mismatches: Vec<String>,
    /// Largest |our warped step − the case's step| (the scheduler table check).
    pub steps_abs_err: f32,
}

impl MatrixGameCheckReport {
    /// The largest error over every call's flow_pred and x0 and every cache tensor; infinite when
    /// a cache index differs.
    pub fn max_rel_err(&self) -> f32 {
        if !self.index_mismatches.is_empty() {
            return f32::INFINITY;
        }
        let calls = self.calls.iter().flat_map(|c| [c.flow_pred, c.x0]);
        calls.chain(self.caches.iter().map(|c| c.1)).fold(0.0, nan_max)
    }

    /// The largest error over every module trace.
    pub fn max_trace_rel_err(&self) -> f32 {
        self.calls.iter().flat_map(|c| c.traces.iter().map(|t| t.1)).fold(0.0, nan_max)
    }
}

fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// `max|a − b| / max|b|` (NaN for a length mismatch or a NaN).
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::NAN;
    }
    let scale = b.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-12);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, nan_max) / scale
}

fn get<'a>(case: &'a TensorMap, name: &str, origin: &str) -> Result<&'a Tensor> {
    case.get(name).ok_or_else(|| bad_input(name, format!("missing from {origin}")))
}

/// Frames `f0..f0+n` of a `[C, F, H, W]` tensor.
fn frames(data: &[f32], c: usize, f: usize, plane: usize, f0: usize, n: usize) -> Vec<f32> {
    (0..c).flat_map(|ci| data[(ci * f + f0) * plane..(ci * f + f0 + n) * plane].iter().copied()).collect()
}

/// Loads `config` (official `config.json` fields), `weights` (one safetensors file of
/// `CausalWanModel.state_dict()`) and the golden `case`, runs the case's stream and compares.
/// With `out`, writes our `call.{i}.{x, flow_pred, x0}` and `cache_after_block.*` there.
pub fn check_matrixgame(
    config: &Path,
    weights: &Path,
    case: &Path,
    out: Option<&Path>,
) -> Result<MatrixGameCheckReport> {
    let cfg = MatrixGameConfig::from_file(config)?;
    let model = MatrixGameModel::load(&cfg, weights)?;
    let origin = case.display().to_string();
    let case = load_safetensors(case)?;
    let g = |n: &str| get(&case, n, &origin);
    let noise = g("noise")?;
    let [_, c, f_all, h, w] = noise.shape[..] else {
        return Err(bad_input("noise", format!("shape {:?}, expected [1, C, F, H, W]", noise.shape)));
    };
    let steps = g("steps")?.data.clone();
    let renoise = g("renoise")?;
    let [blocks, rs, t, ..] = renoise.shape[..] else {
        return Err(bad_input("renoise", format!("shape {:?}, expected [B, S−1, T, C, H, W]", renoise.shape)));
    };
    if rs + 1 != steps.len() || blocks * t != f_all || renoise.shape[3..] != [c, h, w] {
        return Err(bad_input(
            "renoise",
            format!("shape {:?} does not fit {} steps and noise {:?}", renoise.shape, steps.len(), noise.shape),
        ));
    }
    let cond = g("cond_concat")?;
    let vis = g("visual_context")?;
    let rows = vis.shape.get(1).copied().unwrap_or(0);
    let settings =
        StreamSettings { timestep_shift: 5.0, timesteps: steps.clone(), context_noise: 0.0, frames_per_block: t };
    let warped = StreamSettings::matrix_game(&[1000, 666, 333]).timesteps;
    let steps_abs_err = if warped.len() == steps.len() {
        warped.iter().zip(&steps).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    } else {
        f32::NAN
    };
    let mut stream = MatrixGameStream::new(&model, &vis.data, rows, h, w, settings)?;
    let action_rows = |name: &str| -> Result<(usize, usize, &[f32])> {
        match case.get(name) {
            Some(t) if t.shape.len() == 3 => Ok((t.shape[1], t.shape[2], &t.data)),
            Some(t) => Err(bad_input(name, format!("shape {:?}, expected [1, N, width]", t.shape))),
            None => Ok((0, 0, &[])),
        }
    };
    let (nm, wm, mouse) = action_rows("mouse_cond")?;
    let (nk, wk, keyboard) = action_rows("keyboard_cond")?;
    let pixel = nm.max(nk);
    for p in 0..pixel {
        let m = if nm > p { &mouse[p * wm..(p + 1) * wm] } else { &[][..] };
        let k = if nk > p { &keyboard[p * wk..(p + 1) * wk] } else { &[][..] };
        stream.push_action(m, k)?;
    }
    let plane = h * w;
    let cc = cond.shape.get(1).copied().unwrap_or(0);
    let mut report =
        MatrixGameCheckReport { calls: Vec::new(), caches: Vec::new(), index_mismatches: Vec::new(), steps_abs_err };
    let mut ours = TensorMap::new();
    let mut first_err: Option<DitError> = None;
    for b in 0..blocks {
        let cond_b = frames(&cond.data, cc, f_all, plane, b * t, t);
        let noise_b = frames(&noise.data, c, f_all, plane, b * t, t);
        // renoise[b, s] is (frame, C, H, W); the stream takes [C, T, H, W].
        let per = t * c * plane;
        let renoise_b: Vec<Vec<f32>> = (0..rs)
            .map(|s| {
                let src = &renoise.data[(b * rs + s) * per..(b * rs + s + 1) * per];
                let mut out = vec![0.0f32; per];
                for fr in 0..t {
                    for ci in 0..c {
                        out[(ci * t + fr) * plane..(ci * t + fr + 1) * plane]
                            .copy_from_slice(&src[(fr * c + ci) * plane..(fr * c + ci + 1) * plane]);
                    }
                }
                out
            })
            .collect();
        let refs: Vec<&[f32]> = renoise_b.iter().map(Vec::as_slice).collect();
        let mut observe = |call: StreamCall| {
            let index = call.block * (steps.len() + 1) + call.step;
            let kind = if call.step == steps.len() { "context".to_owned() } else { format!("denoise{}", call.step) };
            let cmp = |n: &str, ours: &[f32]| case.get(&format!("call.{index}.{n}")).map(|r| rel_err(ours, &r.data));
            let mut traces = Vec::new();
            if let Some(tr) = call.trace {
                let mut push = |name: String, v: &[f32]| {
                    if let Some(e) = cmp(&format!("trace.{name}"), v) {
                        traces.push((name, e));
                    }
                };
                push("time_projection".into(), &tr.time_projection);
                push("img_emb".into(), &call.context.embedded);
                for (j, bt) in tr.blocks.iter().enumerate() {
                    push(format!("blocks.{j}.self_attn"), &bt.self_attn);
                    push(format!("blocks.{j}.cross_attn"), &bt.cross_attn);
                    if let Some(a) = &bt.action_model {
                        push(format!("blocks.{j}.action_model"), a);
                    }
                    push(format!("blocks.{j}"), &bt.out);
                }
                push("head".into(), &tr.head);
            }
            let shape = vec![1, c, t, h, w];
            for (n, v) in [("x", call.x), ("flow_pred", call.flow), ("x0", call.x0)] {
                ours.insert(format!("call.{index}.{n}"), Tensor::new(shape.clone(), v.to_vec()));
            }
            let mut missing = |n: &str| {
                if first_err.is_none() {
                    first_err = Some(bad_input(&format!("call.{index}.{n}"), format!("missing from {origin}")));
                }
                f32::NAN
            };
            let flow_pred = cmp("flow_pred", call.flow).unwrap_or_else(|| missing("flow_pred"));
            let x0 = cmp("x0", call.x0).unwrap_or_else(|| missing("x0"));
            let x = cmp("x", call.x).unwrap_or(f32::NAN);
            report.calls.push(CallCheck { index, block: call.block, kind, flow_pred, x0, x, traces });
        };
        stream.next_block(&cond_b, &noise_b, &refs, true, &mut observe)?;
        if let Some(e) = first_err.take() {
            return Err(e);
        }
        compare_caches(&case, b, stream.caches(), &mut report, &mut ours);
    }
    if let Some(out) = out {
        save_safetensors(out, &ours)?;
    }
    Ok(report)
}

/// Compares (and records) the caches after block `b`.
fn compare_caches(
    case: &TensorMap,
    b: usize,
    caches: &MatrixGameCaches,
    report: &mut MatrixGameCheckReport,
    ours: &mut TensorMap,
) {
    let kinds = [
        ("kv_cache", caches.self_attn.iter().map(Some).collect::<Vec<_>>()),
        ("kv_cache_mouse", caches.mouse.iter().map(Option::as_ref).collect()),
        ("kv_cache_keyboard", caches.keyboard.iter().map(Option::as_ref).collect()),
    ];
    for (kind, layers) in kinds {
        for (l, cache) in layers.iter().enumerate() {
            let Some(cache) = cache else { continue };
            let name = format!("cache_after_block.{b}.{kind}.{l}");
            let shape =
                |r: Option<&Tensor>| r.map_or(vec![cache.batch, cache.capacity, cache.row], |r| r.shape.clone());
            for (part, data) in [("k", &cache.k), ("v", &cache.v)] {
                let key = format!("{name}.{part}");
                let reference = case.get(&key);
                if let Some(r) = reference {
                    report.caches.push((key.clone(), rel_err(data, &r.data)));
                }
                let sh = shape(reference);
                let t = if sh.iter().product::<usize>() == data.len() {
                    Tensor::new(sh, data.clone())
                } else {
                    Tensor::new(vec![data.len()], data.clone())
                };
                ours.insert(key, t);
            }
            for (part, v) in [("global_end_index", cache.global_end), ("local_end_index", cache.local_end)] {
                let key = format!("{name}.{part}");
                if let Some(r) = case.get(&key) {
                    if r.data.first().copied() != Some(v as f32) {
                        report.index_mismatches.push(format!("{key}: ours {v} vs reference {:?}", r.data));
                    }
                }
                ours.insert(key, Tensor::new(vec![1], vec![v as f32]));
            }
        }
    }
}
