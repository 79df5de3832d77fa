//! Streaming decode time per latent on random weights.
//!
//! Run: `cargo run --release -p worldflow-vae --example vae_bench -- [preset] [latent_h] [latent_w] [latents]`
//! (defaults: tiny 16 16 5). The first latent (1 frame) is reported apart from the later ones (4 frames).

use std::sync::Arc;
use std::time::Instant;

use worldflow_vae::{standard_normal, SplitMix64, StreamingDecoder, VaeConfig, VaeDecoder};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map(String::as_str).unwrap_or("tiny");
    let h: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let w: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5).max(2);
    let cfg = VaeConfig::preset(preset).expect("preset");
    let dec = Arc::new(VaeDecoder::random(&cfg, 1).expect("weights"));
    let mut rng = SplitMix64::new(2);
    let mut s = StreamingDecoder::new(dec.clone());
    let mut later = vec![];
    let mut first = 0.0;
    for i in 0..n {
        let z: Vec<f32> = (0..cfg.z_dim * h * w).map(|_| standard_normal(&mut rng) as f32).collect();
        let t0 = Instant::now();
        let frames = s.decode_next(&z, h, w).expect("decode");
        let dt = t0.elapsed().as_secs_f64();
        if i == 0 {
            first = dt;
        } else {
            later.push(dt);
        }
        assert_eq!(frames.t, if i == 0 { 1 } else { cfg.time_upsampling() });
    }
    later.sort_by(f64::total_cmp);
    let median = later[later.len() / 2];
    println!(
        "preset {preset}, latent {h}×{w} → frames {}×{}, threads {}: first latent {:.1} ms (1 frame), later latents median {:.1} ms ({} frames, {:.1} ms/frame), cache {:.1} MB",
        cfg.spatial_upsampling() * h,
        cfg.spatial_upsampling() * w,
        rayon::current_num_threads(),
        1e3 * first,
        1e3 * median,
        cfg.time_upsampling(),
        1e3 * median / cfg.time_upsampling() as f64,
        s.cache_bytes() as f64 / 1e6
    );
}
