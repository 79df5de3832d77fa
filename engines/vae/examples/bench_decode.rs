//! Streaming decode time of the Wan2.1-topology VAE decoder on the weights and latents written by
//! `reference/bench_decode.py`, plus the max difference to PyTorch's output.
//!
//!     python3 engines/vae/reference/bench_decode.py /tmp/vae_bench --threads 2
//!     RAYON_NUM_THREADS=2 cargo run --release -p worldflow-vae --example bench_decode -- /tmp/vae_bench
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use worldflow_vae::{check_decode, StreamingDecoder, VaeConfig, VaeDecoder};

fn main() -> worldflow_vae::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/vae_bench".into()));
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let (config, weights, case) =
        (dir.join("config.json"), dir.join("weights.safetensors"), dir.join("case.safetensors"));
    let report = check_decode(&config, &weights, &case, &dir.join("rust_video.safetensors"))?;
    let cfg = VaeConfig::from_json(&std::fs::read_to_string(&config).expect("config.json"), "config.json")?;
    let dec = Arc::new(VaeDecoder::from_safetensors(&cfg, &weights)?);
    let bytes = std::fs::read(&case).expect("case.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let zt = st.tensor("z").expect("z");
    let z: Vec<f32> = zt.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let [c, t, h, w] = <[usize; 4]>::try_from(zt.shape()).expect("z is [C, T, h, w]");
    let latent = |i: usize| -> Vec<f32> { (0..c).flat_map(|ci| z[(ci * t + i) * h * w..][..h * w].to_vec()).collect() };
    let mut times = Vec::new();
    for _ in 0..rounds {
        let mut s = StreamingDecoder::new(dec.clone());
        let t0 = Instant::now();
        for i in 0..t {
            s.decode_next(&latent(i), h, w)?;
        }
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let frames = report.video_shape[1];
    let max_ref = {
        let vt = st.tensor("video").expect("video");
        vt.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).abs()).fold(0.0f32, f32::max)
    };
    println!(
        "worldflow-vae decode dim {}, {t} latents {h}×{w} → {frames} frames {}×{} ({} threads, streaming latent by latent): median {:.1} ms, min {:.1} ms ({:.1} ms/frame); max |rust − torch| / max |torch| = {:.2e}",
        cfg.dim,
        report.video_shape[2],
        report.video_shape[3],
        rayon::current_num_threads(),
        times[times.len() / 2],
        times[0],
        times[times.len() / 2] / frames as f64,
        report.max_abs_diff.unwrap_or(f32::NAN) / max_ref
    );
    Ok(())
}
