//! Every NVRTC kernel compiles (PTX for a virtual architecture, CUBIN for the GPUs we may be lent).
//! Needs only libnvrtc (no driver, no GPU): `bash scripts/setup.sh` installs it into .cache/nvrtc;
//! without it the test prints that it did not run.

use worldflow_dit_cuda::kernels::{compile, nvrtc_version, Image, Target, KERNEL_NAMES, KERNEL_SOURCE};
use worldflow_dit_cuda::libs;

fn nvrtc_or_skip() -> bool {
    match libs::nvrtc() {
        Ok(found) => {
            println!("NVRTC {:?} from {found:?}", nvrtc_version().expect("nvrtc version"));
            true
        }
        Err(e) => {
            println!("did not run: {e}");
            false
        }
    }
}

#[test]
fn every_kernel_compiles_to_ptx() {
    if !nvrtc_or_skip() {
        return;
    }
    let ptx = match compile(&Target::Ptx("compute_70".into())) {
        Ok(Image::Ptx(p)) => p,
        Ok(other) => panic!("expected PTX, got {other:?}"),
        Err(e) => panic!("{e}"),
    };
    for name in KERNEL_NAMES {
        assert!(ptx.contains(&format!(".entry {name}(")), "PTX lacks entry `{name}`");
    }
    // Every extern "C" kernel of the source is listed (and so loaded by the backend).
    let declared = KERNEL_SOURCE.matches("extern \"C\" __global__").count();
    assert_eq!(declared, KERNEL_NAMES.len(), "KERNEL_NAMES out of date");
    println!("PTX: {} bytes, {} entries", ptx.len(), KERNEL_NAMES.len());
}

#[test]
fn kernels_compile_to_cubin_for_datacenter_gpus() {
    if !nvrtc_or_skip() {
        return;
    }
    // What Gpu::new asks for: machine code for the device (A100 sm_80, H100/H200 sm_90).
    for arch in ["sm_80", "sm_90"] {
        match compile(&Target::Cubin(arch.into())) {
            Ok(Image::Cubin(b)) => {
                assert!(b.starts_with(b"\x7fELF"), "{arch}: CUBIN is not an ELF image");
                println!("{arch}: CUBIN {} bytes", b.len());
            }
            Ok(other) => panic!("{arch}: expected CUBIN, got {other:?}"),
            Err(e) => panic!("{arch}: {e}"),
        }
    }
}

#[test]
fn a_broken_kernel_reports_the_compiler_log() {
    if !nvrtc_or_skip() {
        return;
    }
    // An unknown architecture is refused with NVRTC's own message, not a panic.
    let e = compile(&Target::Ptx("compute_1".into())).expect_err("bogus arch");
    let text = e.to_string();
    assert!(text.contains("NVRTC failed") && text.contains("compute_1"), "{text}");
}
