//! Creating the CUDA backend where there is no driver or no such device is an error with a sentence,
//! never a panic; through the `DitBackend` seam it is a `DitError::Backend` with the same sentence.

use worldflow_dit::{Config, DitError};
use worldflow_dit_cuda::{check_forward_cuda, libs, CudaDit, CudaError, Device};

#[test]
fn creation_without_driver_or_device_is_a_clear_error() {
    match libs::driver() {
        Err(e) => {
            let want = "CUDA backend: libcuda.so not found (no NVIDIA driver on this machine)";
            assert_eq!(e.to_string(), want);
            let e = CudaDit::random(&Config::tiny(), 0, 0).err().expect("no driver here");
            assert!(matches!(e, CudaError::NoDriver), "{e}");
            let d: DitError = e.into();
            assert_eq!(d.to_string(), want);
            println!("no driver: {want}");
        }
        Ok(()) => {
            // A machine with a driver: a device that does not exist.
            let e = CudaDit::random(&Config::tiny(), 0, 4096).err().expect("no device 4096");
            assert!(matches!(e, CudaError::NoDevice { ordinal: 4096, .. }), "{e}");
            assert!(e.to_string().contains("no CUDA device"), "{e}");
        }
    }
}

#[test]
fn an_invalid_config_is_reported_before_the_device() {
    let cfg = Config { num_heads: 3, ..Config::tiny() };
    let e = CudaDit::random(&cfg, 0, 0).err().expect("invalid config");
    assert!(e.to_string().contains("invalid config"), "{e}");
}

#[test]
fn the_worldplay_layout_is_refused_before_the_device() {
    let e = CudaDit::random(&Config::worldplay_tiny(), 0, 0).err().expect("WorldPlay layout refused");
    assert!(matches!(e, CudaError::Unsupported(_)), "{e}");
    assert!(e.to_string().contains("WorldPlay"), "{e}");
}

#[test]
fn model_check_on_cuda_without_driver_fails_before_reading_weights() {
    let dir = std::env::temp_dir().join(format!("worldflow-dit-cuda-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, serde_json_tiny()).unwrap();
    let r = check_forward_cuda(
        &config,
        &dir.join("missing.safetensors"),
        &dir.join("inputs.safetensors"),
        &dir.join("out.safetensors"),
        0,
    );
    let e = r.expect_err("must fail here");
    if libs::driver().is_err() {
        assert!(matches!(e, CudaError::NoDriver), "{e}");
    } else {
        assert!(e.to_string().contains("missing.safetensors") || e.to_string().contains("no CUDA device"), "{e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn serde_json_tiny() -> String {
    let c = Config::tiny();
    format!(
        r#"{{"patch_size":[1,2,2],"text_len":{},"in_dim":{},"dim":{},"ffn_dim":{},"freq_dim":{},"text_dim":{},"out_dim":{},"num_heads":{},"num_layers":{}}}"#,
        c.text_len, c.in_dim, c.dim, c.ffn_dim, c.freq_dim, c.text_dim, c.out_dim, c.num_heads, c.num_layers
    )
}

#[test]
fn device_names_parse() {
    assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
    assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
    assert_eq!("cuda:1".parse::<Device>(), Ok(Device::Cuda(1)));
    assert!("gpu".parse::<Device>().unwrap_err().to_string().contains("expected cpu, cuda or cuda:N"));
    assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
}
