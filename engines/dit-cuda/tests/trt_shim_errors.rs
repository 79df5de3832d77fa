//! The TensorRT runner's C ABI from the Rust side, without TensorRT: a missing shim, a library that is
//! not a shim, a wrong ABI version, a partial shim, and a stand-in shim (fake_trt_shim.c, compiled here
//! with `cc`) that answers every call with canned data or a canned error.

use std::path::{Path, PathBuf};
use std::process::Command;
use worldflow_dit_cuda::{TrtDataType, TrtPlan, TrtShim, TrtTensor, TRT_ABI_VERSION, TRT_SHIM_ENV};

/// Serialises the tests that read or write WORLDFLOW_TRT_SHIM (tests run on parallel threads).
static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn err_text<T: std::fmt::Debug>(r: worldflow_dit_cuda::Result<T>) -> String {
    r.expect_err("must fail").to_string()
}

/// Builds fake_trt_shim.c with `defines` into a fresh .so; `None` (and a note) without a C compiler.
fn fake_shim(tag: &str, defines: &[&str]) -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("worldflow-trt-fake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join(format!("libfake_{tag}.so"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg("-I")
        .arg(here.join("trt_shim"))
        .arg(here.join("tests/fake_trt_shim.c"));
    cmd.args(defines.iter().map(|d| format!("-D{d}")));
    match cmd.status() {
        Ok(s) if s.success() => Some(out),
        other => {
            println!("did not run: no working C compiler `{cc}` ({other:?})");
            None
        }
    }
}

#[test]
fn missing_or_foreign_shims_are_clear_errors() {
    let _env = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::env::remove_var(TRT_SHIM_ENV);
    let e = err_text(TrtShim::open(None));
    assert!(e.starts_with("TensorRT: no shim: set WORLDFLOW_TRT_SHIM"), "{e}");
    let e = err_text(TrtShim::open(Some(Path::new("/nonexistent/libworldflow_trt_shim.so"))));
    assert!(e.contains("no such file") && e.contains("build.sh"), "{e}");
    let e = err_text(TrtShim::open(Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))));
    assert!(e.contains("cannot load"), "{e}");
}

#[test]
fn wrong_abi_version_and_partial_shims_are_refused() {
    let Some(wrong) = fake_shim("abi999", &["FAKE_ABI=999u"]) else { return };
    let e = err_text(TrtShim::open(Some(&wrong)));
    assert!(e.contains(&format!("ABI version 999, this build expects {TRT_ABI_VERSION}")), "{e}");
    let Some(partial) = fake_shim("partial", &["FAKE_PARTIAL"]) else { return };
    let e = err_text(TrtShim::open(Some(&partial)));
    assert!(e.contains("`wf_trt_plan_create` missing"), "{e}");
    // A shared library without the version symbol at all: the C runtime's libm.
    if Path::new("/lib/x86_64-linux-gnu/libm.so.6").is_file() {
        let e = err_text(TrtShim::open(Some(Path::new("/lib/x86_64-linux-gnu/libm.so.6"))));
        assert!(e.contains("not a worldflow TensorRT shim"), "{e}");
    }
}

#[test]
fn errors_from_the_shim_come_back_as_text() {
    let Some(failing) = fake_shim("fail", &["FAKE_FAIL_CREATE"]) else { return };
    let shim = TrtShim::open(Some(&failing)).expect("open");
    let e = err_text(TrtPlan::deserialize(shim.clone(), b"FAKE plan"));
    assert!(e.contains("fake shim has no TensorRT") && e.contains("9 bytes"), "{e}");
    assert!(err_text(TrtPlan::deserialize(shim, b"")).contains("empty plan"));
}

#[test]
fn io_tensors_and_shapes_cross_the_abi() {
    let Some(ok) = fake_shim("ok", &[]) else { return };
    // Through the environment variable, as the node would.
    let shim = {
        let _env = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        std::env::set_var(TRT_SHIM_ENV, &ok);
        let shim = TrtShim::open(None);
        std::env::remove_var(TRT_SHIM_ENV);
        shim.expect("open via env")
    };
    let mut plan = TrtPlan::deserialize(shim, b"FAKE plan").expect("plan");
    assert_eq!(
        plan.tensors(),
        &[
            TrtTensor { name: "latents".into(), input: true, dtype: TrtDataType::F32, dims: vec![-1, 16, 8, 8] },
            TrtTensor { name: "velocity".into(), input: false, dtype: TrtDataType::F16, dims: vec![-1, 1024] },
        ]
    );
    assert_eq!(plan.context_shape("velocity").unwrap(), vec![-1, 1024]);
    plan.set_input_shape("latents", &[2, 16, 8, 8]).expect("shape");
    assert_eq!(plan.context_shape("velocity").unwrap(), vec![2, 1024]);
    let e = err_text(plan.set_input_shape("velocity", &[1, 2]));
    assert!(e.contains("unknown input or wrong rank"), "{e}");
    let e = err_text(plan.context_shape("nope"));
    assert!(e.contains("no such tensor"), "{e}");
    let e = err_text(plan.set_input_shape("latents", &[1; 9]));
    assert!(e.contains("at most 8"), "{e}");
}
