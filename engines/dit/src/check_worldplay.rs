//! Runs a HY-WorldPlay golden case (`worldplay-goldens/dit_tiny_{chunk0,memory}.case.safetensors`)
//! on the engine and measures max |ours − ref| / max |ref| for every output it holds.
//!
//! The case file is read as written by the official generator (batch axis kept):
//! `context` [1, L, text_dim] (all L rows are fed: the model does not pad or mask), `window_frames`
//! [1], `x` [1, C, F, H, W], `timestep` [F], `action` [1, F], `viewmats` [1, F, 4, 4], `Ks`
//! [1, F, 3, 3], `rope_start`/`rope_end` [1] (token range of the chunk call), `out`; a memory case
//! adds `mem_x`, `mem_timestep`, `mem_action`, `mem_viewmats`, `mem_Ks` (the memory call, at RoPE
//! tokens `[0, M·T)` as the pipeline places it) and the returned cache `kv.{l}.{k,v}`
//! [1, heads, M·T, 2·head_dim]. Traces compared when present: `trace[.memory].patch_embedding`,
//! `condition_embedder.{temb,timestep_proj}`, `blocks.{i}`, `proj_out` (chunk call only).
//!
//! Written to `out`: `out`, `kv.{l}.{k,v}` and the same traces (ours), official shapes.

use crate::config::Config;
use crate::error::{bad_input, Result};
use crate::model::{SeqRequest, Trace, WanModel};
use crate::tensor::{load_safetensors, save_safetensors, Tensor, TensorMap};
use crate::worldplay::{rope_time_from_tokens, worldplay_conds, WorldPlayKv};
use std::path::Path;

/// What [`check_worldplay_case`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldPlayCheckReport {
    /// `memory` when the case holds a memory call, else `chunk`.
    pub kind: &'static str,
    /// (golden tensor name, max |ours − ref| / max |ref|), outputs first (`out`, `kv.*`), then traces.
    pub errors: Vec<(String, f32)>,
}

impl WorldPlayCheckReport {
    /// The largest error over the outputs (`out` and `kv.*`; traces excluded).
    pub fn max_output_err(&self) -> f32 {
        self.errors.iter().filter(|(n, _)| !n.starts_with("trace.")).fold(0.0, |m, (_, e)| m.max(*e))
    }
}

fn rel_err(ours: &[f32], reference: &[f32]) -> f32 {
    if ours.len() != reference.len() {
        return f32::INFINITY;
    }
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    ours.iter().zip(reference).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

fn get<'a>(case: &'a TensorMap, name: &str, shape_len: usize) -> Result<&'a Tensor> {
    let t = case.get(name).ok_or_else(|| bad_input(name, "missing from the case file"))?;
    if t.shape.len() != shape_len {
        return Err(bad_input(name, format!("shape {:?}: expected {shape_len} axes", t.shape)));
    }
    Ok(t)
}

fn scalar(case: &TensorMap, name: &str) -> Result<usize> {
    let t = get(case, name, 1)?;
    match t.data.as_slice() {
        [v] if *v >= 0.0 && v.fract() == 0.0 => Ok(*v as usize),
        d => Err(bad_input(name, format!("expected one non-negative integer, got {d:?}"))),
    }
}

/// One call's inputs, as read from the case (`prefix` "" or "mem_").
struct Call {
    latents: Vec<f32>,
    frames: usize,
    height: usize,
    width: usize,
    conds: Vec<crate::model::FrameCond>,
}

fn read_call(cfg: &Config, case: &TensorMap, prefix: &str) -> Result<Call> {
    let name = |s: &str| format!("{prefix}{s}");
    let x = get(case, &name("x"), 5)?;
    let [b, c, frames, height, width] = x.shape[..] else { unreachable!("5 axes checked") };
    if b != 1 || c != cfg.in_dim {
        return Err(bad_input(&name("x"), format!("shape {:?}: expected [1, {}, F, H, W]", x.shape, cfg.in_dim)));
    }
    let t = get(case, &name("timestep"), 1)?;
    let a = get(case, &name("action"), 2)?;
    let vm = get(case, &name("viewmats"), 4)?;
    let ks = get(case, &name("Ks"), 4)?;
    if t.data.len() != frames
        || a.data.len() != frames
        || vm.shape != [1, frames, 4, 4]
        || ks.shape != [1, frames, 3, 3]
    {
        return Err(bad_input(
            &name("timestep"),
            format!(
                "per-frame inputs do not match {frames} frames: timestep {:?}, action {:?}, viewmats {:?}, Ks {:?}",
                t.shape, a.shape, vm.shape, ks.shape
            ),
        ));
    }
    let actions: Vec<u32> = a
        .data
        .iter()
        .map(|&v| {
            if v >= 0.0 && v.fract() == 0.0 {
                Ok(v as u32)
            } else {
                Err(bad_input(&name("action"), format!("label {v} is not a non-negative integer")))
            }
        })
        .collect::<Result<_>>()?;
    let viewmats: Vec<[[f32; 4]; 4]> =
        vm.data.chunks_exact(16).map(|m| std::array::from_fn(|i| std::array::from_fn(|j| m[i * 4 + j]))).collect();
    let intrinsics: Vec<[[f32; 3]; 3]> =
        ks.data.chunks_exact(9).map(|m| std::array::from_fn(|i| std::array::from_fn(|j| m[i * 3 + j]))).collect();
    let conds = worldplay_conds(&t.data, &actions, &viewmats, &intrinsics)?;
    Ok(Call { latents: x.data.clone(), frames, height, width, conds })
}

/// Our trace in the golden's names and shapes (`prefix` "trace." or "trace.memory.").
fn trace_tensors(cfg: &Config, trace: Trace, call: &Call, prefix: &str, with_head: bool, out: &mut TensorMap) {
    let d = cfg.dim;
    let [_, ph, pw] = cfg.patch_size;
    let (gh, gw) = (call.height / ph, call.width / pw);
    let tokens = call.frames * gh * gw;
    // patch_embedding: [1, dim, F, h, w] (channel-major).
    let mut pe = vec![0.0f32; tokens * d];
    for tok in 0..tokens {
        for c in 0..d {
            pe[c * tokens + tok] = trace.patch_embedding[tok * d + c];
        }
    }
    out.insert(format!("{prefix}patch_embedding"), Tensor::new(vec![1, d, call.frames, gh, gw], pe));
    out.insert(format!("{prefix}condition_embedder.temb"), Tensor::new(vec![call.frames, d], trace.time_embedding));
    out.insert(
        format!("{prefix}condition_embedder.timestep_proj"),
        Tensor::new(vec![call.frames, 6 * d], trace.time_projection),
    );
    for (i, b) in trace.blocks.into_iter().enumerate() {
        out.insert(format!("{prefix}blocks.{i}"), Tensor::new(vec![1, tokens, d], b));
    }
    if with_head {
        out.insert(format!("{prefix}proj_out"), Tensor::new(vec![1, tokens, cfg.head_features()], trace.head));
    }
}

/// Loads `config` (official `config.json` fields) and `weights` (official WorldPlay key names), runs the
/// case's calls, writes our tensors to `out` and returns the error of every compared tensor.
pub fn check_worldplay_case(config: &Path, weights: &Path, case: &Path, out: &Path) -> Result<WorldPlayCheckReport> {
    let cfg = Config::from_file(config)?;
    if cfg.layout != crate::config::Layout::WorldPlay {
        return Err(bad_input("config", format!("{}: not a WorldPlay (diffusers) config", config.display())));
    }
    let model = WanModel::load(&cfg, weights)?;
    let case_map = load_safetensors(case)?;
    let (heads, hd) = (cfg.num_heads, cfg.head_dim());
    let ctx = get(&case_map, "context", 3)?;
    if ctx.shape[0] != 1 || ctx.shape[2] != cfg.text_dim {
        return Err(bad_input("context", format!("shape {:?}: expected [1, L, {}]", ctx.shape, cfg.text_dim)));
    }
    let text = model.encode_text(&ctx.data, ctx.shape[1])?;
    let window_frames = scalar(&case_map, "window_frames")?;
    let chunk = read_call(&cfg, &case_map, "")?;
    let [_, ph, pw] = cfg.patch_size;
    let tpf = (chunk.height / ph) * (chunk.width / pw);
    let (start, end) = (scalar(&case_map, "rope_start")?, scalar(&case_map, "rope_end")?);
    if end > window_frames * tpf {
        return Err(bad_input(
            "rope_end",
            format!("{end} beyond the {window_frames}-frame RoPE window ({tpf} tokens a frame)"),
        ));
    }
    let mut ours = TensorMap::new();
    let memory = if case_map.contains_key("mem_x") {
        let mem = read_call(&cfg, &case_map, "mem_")?;
        let rope_time = rope_time_from_tokens(0, mem.frames * tpf, tpf, mem.frames)?;
        let req = SeqRequest {
            latents: &mem.latents,
            frames: mem.frames,
            height: mem.height,
            width: mem.width,
            conds: &mem.conds,
            rope_time: &rope_time,
            groups: None,
        };
        let mut trace = Trace::default();
        let (_, layers) = model.forward_seq(&req, &text, None, true, Some(&mut trace))?;
        let kv = WorldPlayKv { tokens: mem.frames * tpf, layers: layers.unwrap_or_default() };
        for l in 0..cfg.num_layers {
            let (k, v) = kv.official_layer(l, heads, hd);
            ours.insert(format!("kv.{l}.k"), Tensor::new(vec![1, heads, kv.tokens, 2 * hd], k));
            ours.insert(format!("kv.{l}.v"), Tensor::new(vec![1, heads, kv.tokens, 2 * hd], v));
        }
        trace_tensors(&cfg, trace, &mem, "trace.memory.", false, &mut ours);
        Some(kv)
    } else {
        None
    };
    let rope_time = rope_time_from_tokens(start, end, tpf, chunk.frames)?;
    let req = SeqRequest {
        latents: &chunk.latents,
        frames: chunk.frames,
        height: chunk.height,
        width: chunk.width,
        conds: &chunk.conds,
        rope_time: &rope_time,
        groups: None,
    };
    let mut trace = Trace::default();
    let past = memory.as_ref().map(|m| m as &dyn crate::model::PastKv);
    let (pred, _) = model.forward_seq(&req, &text, past, false, Some(&mut trace))?;
    ours.insert("out".into(), Tensor::new(vec![1, cfg.out_dim, chunk.frames, chunk.height, chunk.width], pred));
    trace_tensors(&cfg, trace, &chunk, "trace.", true, &mut ours);

    let mut errors: Vec<(String, f32)> = ours
        .iter()
        .filter_map(|(name, t)| case_map.get(name).map(|r| (name.clone(), rel_err(&t.data, &r.data))))
        .collect();
    errors.sort_by_key(|(n, _)| (n.starts_with("trace."), n.clone()));
    if !errors.iter().any(|(n, _)| n == "out") {
        return Err(bad_input("out", format!("{}: the case holds no reference `out`", case.display())));
    }
    save_safetensors(out, &ours)?;
    Ok(WorldPlayCheckReport { kind: if memory.is_some() { "memory" } else { "chunk" }, errors })
}
