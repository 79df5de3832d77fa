//! Conformance of the Wan2.2 decoder against HY-WorldPlay's VAE (`MyVAE`, a subclass of diffusers 0.35
//! `AutoencoderKLWan`), goldens in `../shared/data/worldplay-goldens` beside the repository (official code,
//! float32, tiny size, seeded random weights; never committed). Found by `worldflow_testkit::shared_data`:
//! where the folder is missing the tests print a skip line and pass, unless `CI` is set, where they fail;
//! `WORLDPLAY_GOLDENS_DIR` points elsewhere.
//!
//! The config is read from `vae_tiny.config.json` as it is (diffusers field names), the weights from
//! `vae_tiny.weights.safetensors` (diffusers key names). Streaming is latent by latent with the causal
//! caches, as `decode_next_latent` does. Tolerance 1e-4 relative to the largest reference magnitude (the
//! README: float64 differs from these goldens by ≤ 2.4e-6).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use safetensors::SafeTensors;
use worldflow_testkit::shared_data;
use worldflow_vae::{check_decode, StreamingDecoder, VaeConfig, VaeDecoder, Video, WeightNames};

const TOL: f32 = 1e-4;

fn dir() -> Option<PathBuf> {
    shared_data("worldplay-goldens", "WORLDPLAY_GOLDENS_DIR", "vae_tiny.case.safetensors")
}

fn decoder(dir: &std::path::Path) -> VaeDecoder {
    let path = dir.join("vae_tiny.config.json");
    let cfg = VaeConfig::from_json(&std::fs::read_to_string(&path).unwrap(), &path.display().to_string()).unwrap();
    assert_eq!(cfg, VaeConfig::wan2_2_tiny(), "the golden's official config is the wan2.2-tiny preset");
    assert!(cfg.is_residual && cfg.weight_names == WeightNames::Diffusers);
    VaeDecoder::from_safetensors(&cfg, &dir.join("vae_tiny.weights.safetensors")).unwrap()
}

#[test]
fn streamed_per_latent_matches_every_stage() {
    let Some(dir) = dir() else { return };
    let dec = Arc::new(decoder(&dir));
    let case = std::fs::read(dir.join("vae_tiny.case.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&case).unwrap();
    let z = common::video(&st, "z");
    assert_eq!((z.t, z.c, z.h, z.w), (3, 48, 2, 3));
    let mut s = StreamingDecoder::new(dec);
    let mut video = Video::zeros(0, 3, 32, 48);
    let mut worst = 0.0f32;
    for i in 0..z.t {
        let tr = s.decode_next_traced(z.frame(i), z.h, z.w).unwrap();
        assert_eq!(tr.video.t, if i == 0 { 1 } else { 4 }, "latent {i}: frames");
        for (stage, got) in [("post_quant_conv", &tr.post_quant_conv), ("decoder", &tr.decoder), ("video", &tr.video)] {
            let name = format!("stream.{i}.{stage}");
            let e = common::rel_err(&name, got, &common::video(&st, &name));
            println!("{name}: {:?} max rel err {e:.2e}", [got.t, got.c, got.h, got.w]);
            assert!(e < TOL, "{name}: max rel err {e:.3e}");
            worst = worst.max(e);
        }
        video.append(&tr.video).unwrap();
    }
    let e = common::rel_err("video", &video, &common::video(&st, "video"));
    println!("video [9 frames, 3, 32, 48]: max rel err {e:.2e} (worst stage {worst:.2e})");
    assert!(e < TOL, "video: max rel err {e:.3e}");
}

#[test]
fn whole_clip_equals_the_stream_and_the_check_reads_the_case_as_it_is() {
    let Some(dir) = dir() else { return };
    let dec = decoder(&dir);
    let case = std::fs::read(dir.join("vae_tiny.case.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&case).unwrap();
    let whole = dec.decode(&common::video(&st, "z")).unwrap();
    let e = common::rel_err("whole-clip video", &whole, &common::video(&st, "video"));
    println!("whole-clip decode: max rel err {e:.2e}");
    assert!(e < TOL, "whole clip: {e:.3e}");

    let out = std::env::temp_dir().join(format!("wf_vae_wp_check_{}.safetensors", std::process::id()));
    let r = check_decode(
        &dir.join("vae_tiny.config.json"),
        &dir.join("vae_tiny.weights.safetensors"),
        &dir.join("vae_tiny.case.safetensors"),
        &out,
    )
    .unwrap();
    std::fs::remove_file(&out).ok();
    println!("{r:?}");
    assert_eq!((r.latent_shape, r.video_shape), ([3, 2, 3], [3, 9, 32, 48]));
    let rel = r.max_rel_err.expect("the case carries `video`");
    assert!(rel < TOL, "check_decode video: {rel:.3e}");
    assert_eq!(r.stream_max_rel_err.len(), 9, "3 latents × post_quant_conv, decoder, video: {r:?}");
    for (name, e) in &r.stream_max_rel_err {
        assert!(*e < TOL, "check_decode {name}: {e:.3e}");
    }
}

/// A decode with the two patch axes swapped must not pass: the goldens can tell the unpatchify order.
#[test]
fn the_goldens_see_the_unpatchify_order() {
    let Some(dir) = dir() else { return };
    let dec = decoder(&dir);
    let case = std::fs::read(dir.join("vae_tiny.case.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&case).unwrap();
    let want = common::video(&st, "video");
    let got = dec.decode(&common::video(&st, "z")).unwrap();
    // Swapping the two patch axes (rows ↔ columns inside each 2×2 pixel block) is a real error.
    let mut swapped = got.clone();
    for t in 0..got.t {
        for c in 0..3 {
            let src = got.frame_channel(t, c);
            let plane = &mut swapped.data[(t * 3 + c) * 32 * 48..][..32 * 48];
            for y in 0..32 {
                for x in 0..48 {
                    plane[y * 48 + x] = src[(y / 2 * 2 + x % 2) * 48 + x / 2 * 2 + y % 2];
                }
            }
        }
    }
    let e = common::rel_err("patch axes swapped", &swapped, &want);
    println!("patch axes swapped: max rel err {e:.2e}");
    assert!(e > 100.0 * TOL, "the goldens cannot tell the patch order: {e:.3e}");
}

/// Real checkpoints ship BF16 or F16: the golden weights rounded to each load (converted tensor by tensor)
/// and decode to the golden video within that rounding.
#[test]
fn bf16_and_f16_checkpoints_load() {
    let Some(dir) = dir() else { return };
    let w = std::fs::read(dir.join("vae_tiny.weights.safetensors")).unwrap();
    let tensors = common::all_tensors(&SafeTensors::deserialize(&w).unwrap());
    assert_eq!(tensors.len(), 86, "post_quant_conv.* and decoder.* of the tiny Wan2.2 VAE");
    let case = std::fs::read(dir.join("vae_tiny.case.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&case).unwrap();
    let want = common::video(&st, "video");
    let cfg = decoder(&dir).config().clone();
    for (dtype, tol) in [(safetensors::Dtype::BF16, 0.1), (safetensors::Dtype::F16, 0.01)] {
        let path = std::env::temp_dir().join(format!("wf_vae_wp_{dtype:?}_{}.safetensors", std::process::id()));
        common::write_safetensors(&path, &tensors, dtype);
        let dec = VaeDecoder::from_safetensors(&cfg, &path);
        std::fs::remove_file(&path).ok();
        let got = dec.unwrap().decode(&common::video(&st, "z")).unwrap();
        let e = common::rel_err(&format!("{dtype:?} weights"), &got, &want);
        println!("{dtype:?} weights: video max rel err {e:.2e}");
        assert!(e < tol && e > 0.0, "{dtype:?}: {e:.3e}");
    }
}
