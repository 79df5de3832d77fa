//! Real-checkpoint loading: a diffusers-style folder (`config.json`, BF16/F16/F32 shards, a
//! `diffusion_pytorch_model.safetensors.index.json` weight map), written here with seeded random
//! WorldPlay-layout weights, loads to exactly the tensors written (after their rounding to 16 bits)
//! and gives the same model; broken indexes, shards and headers are errors naming the file.

use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use worldflow_dit::{load_checkpoint, random_weights, Config, FrameCond, SeqRequest, Tensor, TensorMap, WanModel};

const INDEX: &str = "diffusion_pytorch_model.safetensors.index.json";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("worldflow-dit-shards-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `x` as stored in `dtype` and read back.
fn round(dtype: Dtype, x: f32) -> f32 {
    match dtype {
        Dtype::BF16 => half::bf16::from_f32(x).to_f32(),
        Dtype::F16 => half::f16::from_f32(x).to_f32(),
        _ => x,
    }
}

fn bytes(dtype: Dtype, data: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::BF16 => data.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect(),
        Dtype::F16 => data.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect(),
        _ => data.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn write_shard(path: &Path, tensors: &[(&String, &Tensor)], dtype: Dtype) {
    let raw: Vec<(&str, Vec<usize>, Vec<u8>)> =
        tensors.iter().map(|(n, t)| (n.as_str(), t.shape.clone(), bytes(dtype, &t.data))).collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> =
        raw.iter().map(|(n, s, b)| (*n, safetensors::tensor::TensorView::new(dtype, s.clone(), b).unwrap())).collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Writes `tensors` as three shards (BF16, F16, F32, round-robin by name) with an index; returns the
/// tensors as they will read back.
fn write_sharded(dir: &Path, tensors: &TensorMap) -> TensorMap {
    let dtypes = [Dtype::BF16, Dtype::F16, Dtype::F32];
    let mut weight_map = BTreeMap::new();
    let mut expected = TensorMap::new();
    for (s, dtype) in dtypes.iter().enumerate() {
        let file = format!("diffusion_pytorch_model-0000{}-of-00003.safetensors", s + 1);
        let part: Vec<(&String, &Tensor)> =
            tensors.iter().enumerate().filter(|(i, _)| i % 3 == s).map(|(_, t)| t).collect();
        write_shard(&dir.join(&file), &part, *dtype);
        for (name, t) in part {
            weight_map.insert(name.clone(), file.clone());
            let data = t.data.iter().map(|&x| round(*dtype, x)).collect();
            expected.insert(name.clone(), Tensor::new(t.shape.clone(), data));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    std::fs::write(dir.join(INDEX), serde_json::to_string_pretty(&index).unwrap()).unwrap();
    expected
}

/// The diffusers-named config.json of the tiny WorldPlay model.
const CONFIG: &str = r#"{"_class_name": "WanTransformer3DModel", "patch_size": [1, 2, 2], "num_attention_heads": 2,
  "attention_head_dim": 32, "in_channels": 48, "out_channels": 48, "text_dim": 32, "freq_dim": 32, "ffn_dim": 128,
  "num_layers": 2, "cross_attn_norm": true, "qk_norm": "rms_norm_across_heads", "eps": 1e-06, "image_dim": null,
  "added_kv_proj_dim": null, "rope_max_seq_len": 1024, "pos_embed_seq_len": null}"#;

fn forward(model: &WanModel) -> Vec<f32> {
    let cfg = model.config();
    let (frames, h, w) = (2, 4, 6);
    let latents: Vec<f32> = (0..cfg.in_dim * frames * h * w).map(|i| (i as f32 * 0.37).sin()).collect();
    let context: Vec<f32> = (0..5 * cfg.text_dim).map(|i| (i as f32 * 0.11).cos()).collect();
    let text = model.encode_text(&context, 5).unwrap();
    let conds: Vec<FrameCond> =
        (0..frames).map(|f| FrameCond { timestep: 500.0, action: Some(f as u32 * 10), camera: None }).collect();
    let req =
        SeqRequest { latents: &latents, frames, height: h, width: w, conds: &conds, rope_time: &[0, 1], groups: None };
    model.forward_seq(&req, &text, None, false, None).unwrap().0
}

#[test]
fn sharded_bf16_f16_checkpoint_loads_exactly_and_runs() {
    let dir = tmp("ok");
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    assert_eq!(cfg, Config::worldplay_tiny());
    let expected = write_sharded(&dir, &random_weights(&cfg, 7, 0.1));
    // Through the folder, and through the index file itself.
    for path in [dir.clone(), dir.join(INDEX)] {
        let got = load_checkpoint(&path).unwrap();
        assert_eq!(got, expected, "{}", path.display());
    }
    let loaded = WanModel::load(&cfg, &dir).unwrap();
    let reference = WanModel::from_tensors(&cfg, expected).unwrap();
    assert_eq!(forward(&loaded), forward(&reference));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_file_in_a_folder_and_16_bit_values_are_exact() {
    let dir = tmp("single");
    let t = Tensor::new(vec![2, 3], vec![1.0, -2.5, 0.1, 3.0e-3, 65504.0, -0.0]);
    let name = "w".to_owned();
    write_shard(&dir.join("model.safetensors"), &[(&name, &t)], Dtype::BF16);
    let got = load_checkpoint(&dir).unwrap();
    let want: Vec<f32> = t.data.iter().map(|&x| round(Dtype::BF16, x)).collect();
    assert_eq!(got["w"].data, want);
    assert_eq!(got["w"].shape, [2, 3]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn broken_checkpoints_are_errors_naming_the_file() {
    let dir = tmp("bad");
    let cfg = Config::worldplay_tiny();
    write_sharded(&dir, &random_weights(&cfg, 7, 0.1));
    let index_path = dir.join(INDEX);
    let index = std::fs::read_to_string(&index_path).unwrap();
    let err = |p: &Path| load_checkpoint(p).unwrap_err().to_string();

    // A tensor listed for a shard that lacks it.
    let moved = index.replacen("-00001-of-00003", "-00002-of-00003", 1);
    std::fs::write(&index_path, &moved).unwrap();
    let e = err(&dir);
    assert!(e.contains("is listed in") && e.contains("00002-of-00003"), "{e}");

    // A missing shard.
    std::fs::write(&index_path, index.replace("-00003-of-00003", "-00009-of-00003")).unwrap();
    let e = err(&dir);
    assert!(e.contains("00009-of-00003.safetensors"), "{e}");

    // A shard outside the folder.
    std::fs::write(&index_path, index.replacen("diffusion_pytorch_model-00001", "../x", 1)).unwrap();
    assert!(err(&dir).contains("is not a file name in this folder"));

    // No weight map.
    std::fs::write(&index_path, "{\"metadata\": {}}").unwrap();
    assert!(err(&dir).contains("weight_map"));
    std::fs::remove_file(&index_path).unwrap();

    // Without the index: three shards, none chosen.
    assert!(err(&dir).contains("3 `*.safetensors` files"), "{}", err(&dir));

    // Truncated data, a header longer than the file, an unsupported dtype.
    let shard = dir.join("diffusion_pytorch_model-00003-of-00003.safetensors");
    let full = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &full[..full.len() - 4]).unwrap();
    let e = err(&shard);
    assert!(e.contains("does not match byte range") && e.contains("00003-of-00003"), "{e}");
    std::fs::write(&shard, [255u8, 255, 0, 0, 0, 0, 0, 0, b'{', b'}']).unwrap();
    assert!(err(&shard).contains("does not fit"), "{}", err(&shard));
    let header = br#"{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#;
    let mut f64_file = (header.len() as u64).to_le_bytes().to_vec();
    f64_file.extend_from_slice(header);
    f64_file.extend_from_slice(&1.0f64.to_le_bytes());
    std::fs::write(&shard, f64_file).unwrap();
    assert!(err(&shard).contains("unsupported dtype F64"), "{}", err(&shard));
    std::fs::remove_dir_all(&dir).ok();
}
