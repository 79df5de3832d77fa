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

#[test]
fn wan22_tiny_streams_like_the_whole_clip_at_16x() {
    let mut cfg = VaeConfig::wan2_2_tiny();
    cfg.clamp_output = false;
    let dec = Arc::new(VaeDecoder::random(&cfg, 5).unwrap());
    let z = random_latents(3, 48, 2, 3, 9);
    let whole = dec.decode(&z).unwrap();
    assert_eq!((whole.t, whole.c, whole.h, whole.w), (9, 3, 32, 48));
    let mut s = StreamingDecoder::new(dec);
    let mut streamed = Video::zeros(0, 3, 32, 48);
    for i in 0..z.t {
        let tr = s.decode_next_traced(z.frame(i), 2, 3).unwrap();
        let n = if i == 0 { 1 } else { 4 };
        assert_eq!([tr.post_quant_conv.t, tr.post_quant_conv.c, tr.post_quant_conv.h], [1, 48, 2]);
        assert_eq!([tr.decoder.t, tr.decoder.c, tr.decoder.h, tr.decoder.w], [n, 12, 16, 24]);
        streamed.append(&tr.video).unwrap();
    }
    let scale = whole.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "degenerate output");
    let e = worldflow_testkit::max_rel_err("wan2.2 streamed vs whole clip", &streamed.data, &whole.data);
    assert!(e <= 1e-5, "streamed vs whole clip: max rel err {e}");
}

/// Upstream Wan2.1 key names → diffusers' (`convert_wan_vae_to_diffusers`' mapping, written out here for a
/// decoder with `per_stage` = num_res_blocks + 2 entries of `decoder.upsamples` per stage).
fn diffusers_name(upstream: &str, per_stage: usize) -> String {
    let res = |rest: &str| {
        rest.replace("residual.0.", "norm1.")
            .replace("residual.2.", "conv1.")
            .replace("residual.3.", "norm2.")
            .replace("residual.6.", "conv2.")
            .replace("shortcut.", "conv_shortcut.")
    };
    if let Some(rest) = upstream.strip_prefix("conv2.") {
        return format!("post_quant_conv.{rest}");
    }
    let rest = upstream.strip_prefix("decoder.").expect("decoder key");
    let out = if let Some(r) = rest.strip_prefix("conv1.") {
        format!("conv_in.{r}")
    } else if let Some(r) = rest.strip_prefix("head.0.") {
        format!("norm_out.{r}")
    } else if let Some(r) = rest.strip_prefix("head.2.") {
        format!("conv_out.{r}")
    } else if let Some(r) = rest.strip_prefix("middle.1.") {
        format!("mid_block.attentions.0.{r}")
    } else if let Some(r) = rest.strip_prefix("middle.") {
        let (i, r) = r.split_once('.').unwrap();
        format!("mid_block.resnets.{}.{}", i.parse::<usize>().unwrap() / 2, res(r))
    } else {
        let r = rest.strip_prefix("upsamples.").expect("upsamples key");
        let (i, r) = r.split_once('.').unwrap();
        let i: usize = i.parse().unwrap();
        let (stage, j) = (i / per_stage, i % per_stage);
        if j == per_stage - 1 {
            format!("up_blocks.{stage}.upsamplers.0.{r}")
        } else {
            format!("up_blocks.{stage}.resnets.{j}.{}", res(r))
        }
    };
    format!("decoder.{out}")
}

#[test]
fn wan21_under_diffusers_names_decodes_the_same() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens");
    let cfg_text = std::fs::read_to_string(dir.join("wan_dim4.config.json")).unwrap();
    let cfg = VaeConfig::from_json(&cfg_text, "wan_dim4").unwrap();
    let upstream = VaeDecoder::from_safetensors(&cfg, &dir.join("wan_dim4.weights.safetensors")).unwrap();
    let bytes = std::fs::read(dir.join("wan_dim4.weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let per_stage = cfg.num_res_blocks + 2;
    let renamed: Vec<(String, Vec<usize>, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            let d = v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            (diffusers_name(&n, per_stage), v.shape().to_vec(), d)
        })
        .collect();
    assert!(renamed.iter().any(|(n, _, _)| n == "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"));
    assert!(renamed.iter().any(|(n, _, _)| n == "decoder.up_blocks.2.upsamplers.0.resample.1.weight"));
    let path = std::env::temp_dir().join(format!("wf_vae_diffusers21_{}.safetensors", std::process::id()));
    let refs: Vec<(&str, Vec<usize>, Vec<f32>)> =
        renamed.iter().map(|(n, s, d)| (n.as_str(), s.clone(), d.clone())).collect();
    write_st(&path, &refs);
    let dcfg = VaeConfig { weight_names: worldflow_vae::WeightNames::Diffusers, ..cfg };
    let diffusers = VaeDecoder::from_safetensors(&dcfg, &path);
    std::fs::remove_file(&path).ok();
    let z = random_latents(3, 16, 3, 5, 2);
    assert_eq!(diffusers.unwrap().decode(&z).unwrap(), upstream.decode(&z).unwrap());
}
