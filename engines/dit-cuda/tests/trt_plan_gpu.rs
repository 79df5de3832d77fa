//! A real TensorRT shim and plan, where a session has them: `WORLDFLOW_TRT_SHIM` (the shim built by
//! trt_shim/build.sh) is opened and its ABI checked; with `WORLDFLOW_TRT_PLAN` (an engine file of f32
//! tensors) and a CUDA device, the plan runs once on inputs of ones (dynamic dimensions set to 1) and
//! every output must be finite. Without them it prints what it skipped.

use std::sync::Arc;
use worldflow_dit_cuda::cudarc::driver::{CudaContext, CudaSlice};
use worldflow_dit_cuda::{libs, TrtDataType, TrtPlan, TrtShim, TRT_SHIM_ENV};

#[test]
fn trt_plan_runs_where_available() {
    if std::env::var_os(TRT_SHIM_ENV).is_none() {
        println!("skipped: {TRT_SHIM_ENV} not set (no TensorRT shim built on this machine)");
        return;
    }
    let shim = TrtShim::open(None).unwrap_or_else(|e| panic!("{e}"));
    println!("shim {} opened, ABI checked", shim.path().display());
    let Some(plan_path) = std::env::var_os("WORLDFLOW_TRT_PLAN") else {
        println!("skipped running a plan: WORLDFLOW_TRT_PLAN not set");
        return;
    };
    if let Err(e) = libs::driver() {
        println!("skipped running a plan: {e}");
        return;
    }
    let ctx: Arc<CudaContext> = CudaContext::new(0).expect("CUDA device 0");
    ctx.bind_to_thread().expect("bind");
    let stream = ctx.default_stream();
    let bytes = std::fs::read(&plan_path).expect("plan file");
    let mut plan = TrtPlan::deserialize(shim, &bytes).unwrap_or_else(|e| panic!("{e}"));
    println!("{:?}", plan.tensors());
    let tensors = plan.tensors().to_vec();
    for t in tensors.iter().filter(|t| t.input) {
        assert_eq!(t.dtype, TrtDataType::F32, "{}: this check feeds f32 only", t.name);
        let dims: Vec<i64> = t.dims.iter().map(|&d| if d < 0 { 1 } else { d }).collect();
        plan.set_input_shape(&t.name, &dims).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut bufs: Vec<(String, bool, CudaSlice<f32>)> = Vec::new();
    for t in &tensors {
        let n: i64 = plan.context_shape(&t.name).expect("shape").iter().product();
        let host = vec![if t.input { 1.0f32 } else { f32::NAN }; n.max(1) as usize];
        bufs.push((t.name.clone(), t.input, stream.clone_htod(&host).expect("upload")));
    }
    let (ins, outs): (Vec<_>, Vec<_>) = bufs.iter_mut().partition(|(_, input, _)| *input);
    let inputs: Vec<(&str, &CudaSlice<f32>)> = ins.into_iter().map(|(n, _, b)| (n.as_str(), &*b)).collect();
    let mut outputs: Vec<(&str, &mut CudaSlice<f32>)> = outs.into_iter().map(|(n, _, b)| (n.as_str(), b)).collect();
    plan.run_f32(&stream, &inputs, &mut outputs).unwrap_or_else(|e| panic!("{e}"));
    for (name, buf) in outputs {
        let v = stream.clone_dtoh(&*buf).expect("download");
        assert!(v.iter().all(|x| x.is_finite()), "{name}: non-finite output");
        println!("{name}: {} values, first {:?}", v.len(), &v[..v.len().min(4)]);
    }
}
