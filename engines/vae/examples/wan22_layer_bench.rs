//! Times ONE full-size Wan2.2 decoder layer at a realistic latent size and extrapolates a full decode
//! from it by operation count, then checks that extrapolation against a whole Wan2.2 decoder (real
//! widths, decoder_base_dim 256) decoded at a small latent size. Random weights throughout.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo run --release -p worldflow-vae --example wan22_layer_bench -- [h] [w] [small_h] [small_w]`
//! (defaults 44 80 4 6: 44×80 latents are 704×1280 frames, WorldPlay's 880-token grid).
//!
//! The layer: up block 0's residual block (1024 → 1024 channels, one frame of h × w per latent), timed in
//! the stream's steady state (every temporal tap live).

use std::sync::Arc;
use std::time::Instant;

use worldflow_vae::{
    decode_flops_per_latent, standard_normal, ResidualBlockProbe, SplitMix64, StreamingDecoder, VaeConfig, VaeDecoder,
    Video,
};

fn random_video(t: usize, c: usize, h: usize, w: usize, rng: &mut SplitMix64) -> Video {
    Video::new(t, c, h, w, (0..t * c * h * w).map(|_| standard_normal(rng) as f32).collect(), "x").expect("video")
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("integer argument")).collect();
    let arg = |i: usize, d: usize| args.get(i).copied().unwrap_or(d);
    let (h, w, sh, sw) = (arg(0, 44), arg(1, 80), arg(2, 4), arg(3, 6));
    let cfg = VaeConfig::wan2_2();
    let width = cfg.decoder_dims()[0];
    let threads = rayon::current_num_threads();
    let mut rng = SplitMix64::new(3);

    // 1. One layer at full size.
    let mut probe = ResidualBlockProbe::random(width, width, 1);
    for _ in 0..2 {
        probe.forward(random_video(1, width, h, w, &mut rng)); // fills the causal caches
    }
    let mut times = vec![];
    for _ in 0..2 {
        let x = random_video(1, width, h, w, &mut rng);
        let t0 = Instant::now();
        let y = probe.forward(x);
        times.push(t0.elapsed().as_secs_f64());
        assert!(y.data.iter().all(|v| v.is_finite()));
    }
    times.sort_by(f64::total_cmp);
    let layer_s = times[0];
    let rate = probe.flops(1, h, w) / layer_s;
    let full = decode_flops_per_latent(&cfg, h, w);
    println!(
        "layer: Wan2.2 up block 0 residual block {width}→{width}, 1 frame of {h}×{w} latents, {threads} threads: {:.2} s per latent \
         ({:.0} GFLOP, {:.1} GFLOP/s; best of {})",
        layer_s,
        probe.flops(1, h, w) / 1e9,
        rate / 1e9,
        times.len()
    );
    println!(
        "extrapolated full Wan2.2 decode at {h}×{w} latents ({}×{} frames): {:.1} TFLOP per latent → {:.0} s per latent \
         ({:.0} s per frame) at that rate",
        h * cfg.spatial_upsampling(),
        w * cfg.spatial_upsampling(),
        full / 1e12,
        full / rate,
        full / rate / 4.0
    );

    // 2. The whole decoder at a small latent size, against the same extrapolation.
    let t0 = Instant::now();
    let dec = Arc::new(VaeDecoder::random(&cfg, 2).expect("weights"));
    let load_s = t0.elapsed().as_secs_f64();
    let mut s = StreamingDecoder::new(dec);
    let mut steady = f64::INFINITY;
    for i in 0..3 {
        let z = random_video(1, cfg.z_dim, sh, sw, &mut rng);
        let t0 = Instant::now();
        let v = s.decode_next(&z.data, sh, sw).expect("decode");
        if i >= 2 {
            steady = steady.min(t0.elapsed().as_secs_f64());
        }
        assert_eq!((v.t, v.h, v.w), (if i == 0 { 1 } else { 4 }, 16 * sh, 16 * sw));
    }
    let small = decode_flops_per_latent(&cfg, sh, sw);
    println!(
        "check: whole Wan2.2 decoder (random weights, {load_s:.0} s to draw), {sh}×{sw} latents → {}×{} frames: \
         {steady:.1} s per steady-state latent, measured; the layer's rate predicts {:.1} s ({:.2} TFLOP); \
         cache {:.0} MB",
        16 * sh,
        16 * sw,
        small / rate,
        small / 1e12,
        s.cache_bytes() as f64 / 1e6
    );
}
