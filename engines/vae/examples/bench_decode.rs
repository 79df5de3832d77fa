//! Streaming decode time of the Wan2.1-topology VAE decoder on the weights and latents written by
//! `reference/bench_decode.py` (which times the official `WanVAE_` decode on them), per latent, plus
//! peak memory and the max difference to PyTorch's output.
//!
//!     .cache/bench/bin/python engines/vae/reference/bench_decode.py /tmp/vae_bench --wan-repo /work/wan21
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-vae --example bench_decode -- /tmp/vae_bench
//!
//! `BENCH_ROUNDS` (default 3) decodes of the whole latent sequence, each latent by latent through a fresh
//! `StreamingDecoder`; the first round's frames are compared with the file's `video`. Prints the median
//! and min of the whole decode, of the first latent (1 frame) and of the later latents (4 frames each),
//! the resident memory after loading the weights and the process's peak (VmHWM) at the end.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use worldflow_vae::{StreamingDecoder, VaeConfig, VaeDecoder, Video};

fn main() -> worldflow_vae::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/vae_bench".into()));
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let (config, weights, case) =
        (dir.join("config.json"), dir.join("weights.safetensors"), dir.join("case.safetensors"));
    let cfg = VaeConfig::from_json(&std::fs::read_to_string(&config).expect("config.json"), "config.json")?;
    let (z, [c, t, h, w], reference) = {
        let bytes = std::fs::read(&case).expect("case.safetensors");
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
        let f32s = |d: &[u8]| -> Vec<f32> {
            d.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        let zt = st.tensor("z").expect("z");
        let dims = <[usize; 4]>::try_from(zt.shape()).expect("z is [C, T, h, w]");
        let video = st.tensor("video").ok().map(|v| (v.shape().to_vec(), f32s(v.data())));
        (f32s(zt.data()), dims, video)
    };
    let rss_start = proc_status_kb("VmRSS");
    let dec = Arc::new(VaeDecoder::from_safetensors(&cfg, &weights)?);
    let rss_loaded = proc_status_kb("VmRSS");
    let latent = |i: usize| -> Vec<f32> { (0..c).flat_map(|ci| z[(ci * t + i) * h * w..][..h * w].to_vec()).collect() };
    let (mut total, mut first, mut later) = (Vec::new(), Vec::new(), Vec::new());
    let mut out: Option<Video> = None;
    for round in 0..rounds {
        let mut s = StreamingDecoder::new(dec.clone());
        let mut video: Option<Video> = None;
        let t0 = Instant::now();
        for i in 0..t {
            let lat = latent(i);
            let t1 = Instant::now();
            let frames = s.decode_next(&lat, h, w)?;
            let ms = t1.elapsed().as_secs_f64() * 1e3;
            if i == 0 {
                first.push(ms)
            } else {
                later.push(ms)
            }
            if round == 0 {
                match video.as_mut() {
                    None => video = Some(frames),
                    Some(v) => v.append(&frames)?,
                }
            }
        }
        total.push(t0.elapsed().as_secs_f64() * 1e3);
        if round == 0 {
            out = video;
        }
    }
    let peak = proc_status_kb("VmHWM");
    let out = out.expect("at least one latent");
    let agreement = match reference {
        Some((shape, want)) if shape == [out.c, out.t, out.h, out.w] => {
            let got = out.to_cthw();
            let max_ref = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let max_diff = got.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            format!("max |rust − torch| / max |torch| = {:.2e}", max_diff / max_ref)
        }
        Some((shape, _)) => {
            format!("reference video has shape {shape:?}, ours [{}, {}, {}, {}]", out.c, out.t, out.h, out.w)
        }
        None => "no reference video in the case file".into(),
    };
    let med_min = |v: &mut Vec<f64>| -> String {
        if v.is_empty() {
            return "-".into();
        }
        v.sort_by(f64::total_cmp);
        format!("median {:.1} ms, min {:.1} ms", v[v.len() / 2], v[0])
    };
    let mb = |kb: Option<u64>| kb.map_or("?".into(), |k| format!("{:.0} MB", k as f64 / 1024.0));
    println!(
        "worldflow-vae decode dim {}, {t} latents {h}×{w} → {} frames {}×{} ({} threads, streaming latent by latent, {rounds} rounds): \
         whole {}; first latent (1 frame) {}; later latents (4 frames) {}; RSS start {} / after weights {} / peak {}; {agreement}",
        cfg.dim,
        out.t,
        out.h,
        out.w,
        rayon::current_num_threads(),
        med_min(&mut total),
        med_min(&mut first),
        med_min(&mut later),
        mb(rss_start),
        mb(rss_loaded),
        mb(peak),
    );
    Ok(())
}

/// A `kB` field of /proc/self/status (Linux; `None` elsewhere).
fn proc_status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}
