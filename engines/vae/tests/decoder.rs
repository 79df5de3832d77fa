//! Decoder behaviour without external data: streaming == whole clip on random weights, shapes, errors.

use std::io::Write;
use std::sync::Arc;

use worldflow_vae::{check_decode, StreamingDecoder, VaeConfig, VaeDecoder, VaeError, Video, WeightProblem};

fn random_latents(t: usize, c: usize, h: usize, w: usize, seed: u64) -> Video {
    let mut rng = worldflow_vae::SplitMix64::new(seed);
    Video::new(t, c, h, w, (0..t * c * h * w).map(|_| worldflow_vae::standard_normal(&mut rng) as f32).collect(), "z")
        .unwrap()
}

#[test]
fn streaming_equals_whole_clip_random_weights() {
    let mut cfg = VaeConfig::tiny();
    cfg.clamp_output = false;
    let dec = Arc::new(VaeDecoder::random(&cfg, 11).unwrap());
    let z = random_latents(4, 16, 2, 3, 5);
    let whole = dec.decode(&z).unwrap();
    assert_eq!((whole.t, whole.c, whole.h, whole.w), (13, 3, 16, 24));
    let mut s = StreamingDecoder::new(dec.clone());
    let mut streamed = Video::zeros(0, 3, 16, 24);
    for i in 0..z.t {
        streamed.append(&s.decode_next(z.frame(i), 2, 3).unwrap()).unwrap();
    }
    assert_eq!(s.latents_seen(), 4);
    assert!(s.cache_bytes() > 0);
    let scale = whole.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "degenerate output");
    let e = worldflow_testkit::max_rel_err("streamed vs whole clip", &streamed.data, &whole.data);
    assert!(e <= 1e-5, "streamed vs whole clip: max rel err {e}");
    // After reset the stream starts over: the first latent gives one frame equal to frame 0.
    s.reset();
    let first = s.decode_next(z.frame(0), 2, 3).unwrap();
    assert_eq!(first.t, 1);
    assert!(first.max_abs_diff(&whole.frames(0, 1)) <= 1e-5 * scale);
}

#[test]
fn random_weights_are_seeded() {
    let cfg = VaeConfig::tiny();
    let z = random_latents(2, 16, 2, 2, 1);
    let a = VaeDecoder::random(&cfg, 3).unwrap().decode(&z).unwrap();
    let b = VaeDecoder::random(&cfg, 3).unwrap().decode(&z).unwrap();
    let c = VaeDecoder::random(&cfg, 4).unwrap().decode(&z).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.data.iter().all(|v| (-1.0..=1.0).contains(v)), "clamped output");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dec = Arc::new(VaeDecoder::random(&VaeConfig::tiny(), 1).unwrap());
    let mut s = StreamingDecoder::new(dec.clone());
    let err = s.decode_next(&[0.0; 10], 2, 2).unwrap_err().to_string();
    assert!(err.contains("latent") && err.contains("64"), "{err}");
    s.decode_next(&[0.0; 64], 2, 2).unwrap();
    let err = s.decode_next(&[0.0; 16 * 9], 3, 3).unwrap_err().to_string();
    assert!(err.contains("2×2") && err.contains("3×3"), "{err}");
    let mut nan = vec![0.0f32; 64];
    nan[5] = f32::NAN;
    let err = s.decode_next(&nan, 2, 2).unwrap_err().to_string();
    assert!(err.contains("non-finite"), "{err}");
    let z8 = Video::zeros(1, 8, 2, 2);
    assert!(dec.decode(&z8).unwrap_err().to_string().contains("latent channels"));
}

/// Writes a safetensors file of F32 tensors.
fn write_st(path: &std::path::Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (*n, safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    let out = safetensors::serialize(views, None).unwrap();
    std::fs::File::create(path).unwrap().write_all(&out).unwrap();
}

#[test]
fn weight_errors_name_every_tensor() {
    // Take the committed golden checkpoint, drop one tensor, reshape one, add one.
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens");
    let cfg_text = std::fs::read_to_string(dir.join("wan_dim4.config.json")).unwrap();
    let cfg = VaeConfig::from_json(&cfg_text, "wan_dim4").unwrap();
    let bytes = std::fs::read(dir.join("wan_dim4.weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "decoder.head.2.bias")
        .map(|(n, v)| {
            let d = v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            (n, v.shape().to_vec(), d)
        })
        .collect();
    for t in tensors.iter_mut() {
        if t.0 == "decoder.conv1.bias" {
            t.1 = vec![t.2.len() - 1];
            t.2.pop();
        }
    }
    tensors.push(("decoder.bogus.weight".into(), vec![2], vec![0.0, 1.0]));
    tensors.push(("encoder.conv1.weight".into(), vec![1], vec![0.0])); // encoder half: ignored
    let path = std::env::temp_dir().join(format!("wf_vae_bad_{}.safetensors", std::process::id()));
    let refs: Vec<(&str, Vec<usize>, Vec<f32>)> =
        tensors.iter().map(|(n, s, d)| (n.as_str(), s.clone(), d.clone())).collect();
    write_st(&path, &refs);
    let err = match VaeDecoder::from_safetensors(&cfg, &path) {
        Err(e) => e,
        Ok(_) => panic!("broken checkpoint accepted"),
    };
    let msg = err.to_string();
    let VaeError::Weights { problems, .. } = err else { panic!("wrong error kind: {msg}") };
    assert_eq!(problems.len(), 3, "{msg}");
    assert!(problems.contains(&WeightProblem::Missing { name: "decoder.head.2.bias".into(), expected: vec![3] }));
    assert!(problems
        .iter()
        .any(|p| matches!(p, WeightProblem::MisShaped { name, .. } if name == "decoder.conv1.bias")));
    assert!(problems
        .iter()
        .any(|p| matches!(p, WeightProblem::Unexpected { name, .. } if name == "decoder.bogus.weight")));
    assert!(msg.contains("decoder.head.2.bias") && msg.contains("decoder.bogus.weight"), "{msg}");
    std::fs::remove_file(&path).ok();

    let err = VaeDecoder::from_safetensors(&cfg, std::path::Path::new("/nonexistent/w.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("/nonexistent/w.safetensors"), "{err}");
}

#[test]
fn check_decode_round_trip() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens");
    let tmp = std::env::temp_dir().join(format!("wf_vae_check_{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("out.safetensors");
    let report = check_decode(
        &dir.join("wan_dim4.config.json"),
        &dir.join("wan_dim4.weights.safetensors"),
        &dir.join("wan_dim4.case.safetensors"),
        &out,
    )
    .unwrap();
    assert_eq!(report.latent_shape, [3, 3, 5]);
    assert_eq!(report.video_shape, [3, 9, 24, 40]);
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("video").unwrap().shape(), &[3, 9, 24, 40]);
    // Missing input tensor is named.
    let bad = tmp.join("bad.safetensors");
    write_st(&bad, &[("x", vec![1], vec![0.0])]);
    let err = check_decode(&dir.join("wan_dim4.config.json"), &dir.join("wan_dim4.weights.safetensors"), &bad, &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`z`") && err.contains("missing"), "{err}");
    std::fs::remove_dir_all(&tmp).ok();
}
