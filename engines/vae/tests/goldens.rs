//! Goldens from the committed independent float64 PyTorch reference (`reference/make_goldens.py`).
//!
//! Every case is decoded three ways — whole clip, latent by latent, and in uneven multi-latent chunks —
//! and each must match the reference within 1e-4 of the largest output magnitude (float32 accumulation
//! over ≤ 27·Cin terms per conv and ~20 layers gives ~1e-6; an architectural mistake gives ≥ 1e-2).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use safetensors::SafeTensors;
use worldflow_vae::{StreamingDecoder, VaeConfig, VaeDecoder, Video};

const TOL: f32 = 1e-4;

fn golden(name: &str) -> (VaeDecoder, Video, Video) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens");
    let cfg_path = dir.join(format!("{name}.config.json"));
    let cfg = VaeConfig::from_json(&std::fs::read_to_string(&cfg_path).unwrap(), name).unwrap();
    let dec = VaeDecoder::from_safetensors(&cfg, &dir.join(format!("{name}.weights.safetensors"))).unwrap();
    let case = std::fs::read(dir.join(format!("{name}.case.safetensors"))).unwrap();
    let st = SafeTensors::deserialize(&case).unwrap();
    (dec, common::video(&st, "z"), common::video(&st, "video_raw"))
}

fn check_all_ways(name: &str, chunkings: &[&[usize]]) {
    let (dec, z, want) = golden(name);
    let dec = Arc::new(dec);
    let whole = dec.decode(&z).unwrap();
    let e = common::rel_err(name, &whole, &want);
    println!("{name}: whole clip rel err {e:.2e}");
    assert!(e < TOL, "{name} whole clip: rel err {e}");

    let mut s = StreamingDecoder::new(dec.clone());
    let mut streamed = Video::zeros(0, 3, want.h, want.w);
    for i in 0..z.t {
        let frames = s.decode_next(z.frame(i), z.h, z.w).unwrap();
        let expect_n = if i == 0 { 1 } else { dec.config().time_upsampling() };
        assert_eq!(frames.t, expect_n, "{name}: latent {i} gave {} frames", frames.t);
        streamed.append(&frames).unwrap();
    }
    let e = common::rel_err(name, &streamed, &want);
    println!("{name}: latent-by-latent rel err {e:.2e}");
    assert!(e < TOL, "{name} streaming: rel err {e}");

    for chunks in chunkings {
        let mut s = StreamingDecoder::new(dec.clone());
        let mut out = Video::zeros(0, 3, want.h, want.w);
        let mut start = 0;
        for n in chunks.iter() {
            out.append(&s.decode_chunk(&z.frames(start, start + n)).unwrap()).unwrap();
            start += n;
        }
        let e = common::rel_err(name, &out, &want);
        assert!(e < TOL, "{name} chunks {chunks:?}: rel err {e}");
    }
}

#[test]
fn wan_topology_dim4() {
    check_all_ways("wan_dim4", &[&[2, 1], &[1, 2]]);
}

#[test]
fn other_topology_attention_f16_weights() {
    check_all_ways("wide", &[&[1, 3], &[2, 2], &[3, 1]]);
}
