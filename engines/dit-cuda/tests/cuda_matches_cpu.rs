//! The CUDA backend against the CPU model, same seeded weights: one forward (with traces), a forward
//! with actions, cameras, block-causal groups and a KV cache, recorded K/V, and chunk-wise generation.
//! Tolerance: max |Δ| / max |CPU| ≤ 1e-4. Runs where a CUDA device is present; elsewhere it prints
//! "skipped: no CUDA device" and returns (see README: how to run it on a GPU machine).

use worldflow_dit::*;
use worldflow_dit_cuda::{libs, CudaDit, CudaError};
use worldflow_testkit::assert_close;

const TOLERANCE: f32 = 1e-4;

fn cuda_or_skip(cfg: &Config, seed: u64) -> Option<CudaDit> {
    match CudaDit::random(cfg, seed, 0) {
        Ok(m) => {
            println!("running on {}", m.device());
            Some(m)
        }
        Err(e @ (CudaError::NoDriver | CudaError::NoDevice { .. })) => {
            println!("skipped: no CUDA device ({e})");
            None
        }
        Err(e) => panic!("CUDA backend failed to start: {e}"),
    }
}

fn cam(i: usize) -> Camera {
    let a = 0.1 * i as f32;
    Camera {
        world_from_camera: [
            [a.cos(), 0., a.sin(), 0.2 * i as f32],
            [0., 1., 0., 0.],
            [-a.sin(), 0., a.cos(), 0.1],
            [0., 0., 0., 1.],
        ],
        fx: 40.,
        fy: 40.,
        cx: 32.,
        cy: 24.,
    }
}

fn compare_plain(cpu: &WanModel, gpu: &CudaDit) {
    let cfg = cpu.config().clone();
    let (frames, h, w) = (3, 4, 6);
    let mut rng = Rng::new(7);
    let latents = rng.normal_vec(cfg.in_dim * frames * h * w, 1.0);
    let ctx = rng.normal_vec(5 * cfg.text_dim, 1.0);
    let conds: Vec<FrameCond> = (0..frames).map(|f| FrameCond::at(900.0 - 250.0 * f as f32)).collect();
    let rope: Vec<usize> = (0..frames).collect();
    let req =
        SeqRequest { latents: &latents, frames, height: h, width: w, conds: &conds, rope_time: &rope, groups: None };
    let (tc, tg) = (cpu.encode_text(&ctx, 5).unwrap(), DitBackend::encode_text(gpu, &ctx, 5).unwrap());
    assert_close("text_embedding", &tg.embedded, &tc.embedded, TOLERANCE);
    let (mut trc, mut trg) = (Trace::default(), Trace::default());
    let (oc, _) = cpu.forward_seq(&req, &tc, None, false, Some(&mut trc)).unwrap();
    let (og, _) = gpu.forward_seq(&req, &tg, None, false, Some(&mut trg)).unwrap();
    assert_close("trace.patch_embedding", &trg.patch_embedding, &trc.patch_embedding, TOLERANCE);
    assert_close("trace.time_projection", &trg.time_projection, &trc.time_projection, TOLERANCE);
    for (i, (g, c)) in trg.blocks.iter().zip(&trc.blocks).enumerate() {
        assert_close(&format!("trace.blocks.{i}"), g, c, TOLERANCE);
    }
    assert_close("out", &og, &oc, TOLERANCE);
}

/// Actions, cameras, block-causal groups, a KV cache of earlier frames and recorded K/V.
fn compare_controls(cpu: &WanModel, gpu: &CudaDit) {
    let cfg = cpu.config().clone();
    let (h, w, frames) = (4, 4, 4);
    let hw = h * w;
    let tpf = hw / 4;
    let mut rng = Rng::new(21);
    let ctx = rng.normal_vec(7 * cfg.text_dim, 1.0);
    let (tc, tg) = (cpu.encode_text(&ctx, 7).unwrap(), DitBackend::encode_text(gpu, &ctx, 7).unwrap());
    let conds = |f0: usize, t: f32| -> Vec<FrameCond> {
        (0..frames)
            .map(|f| FrameCond {
                timestep: t + 50.0 * f as f32,
                action: Some(((f0 + f) * 17 % 81) as u32),
                camera: Some(cam(f0 + f)),
            })
            .collect()
    };
    // Prefix: 4 frames recorded (block-causal groups of 2) into a cache.
    let prefix = rng.normal_vec(cfg.in_dim * frames * hw, 1.0);
    let (c0, r0) = (conds(0, 0.0), [0usize, 1, 2, 3]);
    let groups = [2usize, 2];
    let req0 =
        SeqRequest { latents: &prefix, frames, height: h, width: w, conds: &c0, rope_time: &r0, groups: Some(&groups) };
    let (oc0, kc) = cpu.forward_seq(&req0, &tc, None, true, None).unwrap();
    let (og0, kg) = gpu.forward_seq(&req0, &tg, None, true, None).unwrap();
    assert_close("prefix out", &og0, &oc0, TOLERANCE);
    let (kc, kg) = (kc.unwrap(), kg.unwrap());
    for (i, (g, c)) in kg.iter().zip(&kc).enumerate() {
        assert_close(&format!("recorded k {i}"), &g.k, &c.k, TOLERANCE);
        assert_close(&format!("recorded v {i}"), &g.v, &c.v, TOLERANCE);
        assert_close(&format!("recorded cam_k {i}"), &g.cam_k, &c.cam_k, TOLERANCE);
        assert_close(&format!("recorded cam_v {i}"), &g.cam_v, &c.cam_v, TOLERANCE);
    }
    let cache = |rec: Vec<LayerKv>| {
        let meta = (0..frames)
            .map(|f| CachedFrame {
                index: f,
                rope_time: f,
                group: f / 2,
                latent: Vec::new(),
                cond: c0[f],
                layers: Vec::new(),
            })
            .collect();
        let mut k = KvCache::new();
        k.push_chunk(meta, rec, tpf, cfg.dim);
        k
    };
    // The same CPU-recorded cache for both: the attention over it is what is compared.
    let (past_c, past_g) = (cache(kc.clone()), cache(kc));
    let x = rng.normal_vec(cfg.in_dim * frames * hw, 1.0);
    let (c1, r1) = (conds(4, 300.0), [4usize, 5, 6, 7]);
    let req1 =
        SeqRequest { latents: &x, frames, height: h, width: w, conds: &c1, rope_time: &r1, groups: Some(&groups) };
    let (oc1, _) = cpu.forward_seq(&req1, &tc, Some(&past_c), false, None).unwrap();
    let (og1, _) = gpu.forward_seq(&req1, &tg, Some(&past_g), false, None).unwrap();
    assert_close("with KV cache out", &og1, &oc1, TOLERANCE);
}

fn compare_generation(cpu: &WanModel, gpu: &CudaDit) {
    let cfg = cpu.config().clone();
    let gen = GenConfig {
        chunk_frames: 2,
        height: 4,
        width: 4,
        sigmas: uniform_sigmas(3, 3.0),
        sampler: SamplerKind::EulerFlow,
        policy: CachePolicy::Rolling { window: 4, sink: 1 },
        cache_timestep: 0.0,
        seed: 9,
    };
    let run = |m: &dyn DitBackend| -> Vec<Vec<f32>> {
        let text = m.encode_text(&[], 0).unwrap();
        let branch = Branch { text, use_actions: cfg.action_classes.is_some(), use_camera: cfg.camera_attention };
        let mut g = ChunkGenerator::new(m, gen.clone(), Guidance::None, vec![branch]).unwrap();
        (0..3)
            .map(|c| {
                let controls = ChunkControls {
                    actions: Some(vec![c as u32 * 5, 40]),
                    cameras: Some(vec![cam(2 * c), cam(2 * c + 1)]),
                };
                g.next_chunk(&controls).unwrap().data
            })
            .collect()
    };
    let (a, b) = (run(cpu), run(gpu));
    for (i, (g, c)) in b.iter().zip(&a).enumerate() {
        assert_close(&format!("generated chunk {i}"), g, c, TOLERANCE);
    }
}

#[test]
fn cuda_matches_cpu() {
    let cfg = Config::tiny();
    let Some(gpu) = cuda_or_skip(&cfg, 3) else { return };
    let cpu = WanModel::random(&cfg, 3).unwrap();
    compare_plain(&cpu, &gpu);

    let cfg = Config { action_classes: Some(81), camera_attention: true, ..Config::tiny() };
    let cpu = WanModel::random(&cfg, 4).unwrap();
    let mut gpu = CudaDit::random(&cfg, 4, 0).expect("cuda");
    compare_controls(&cpu, &gpu);
    compare_generation(&cpu, &gpu);
    if libs::cublas().is_some() {
        println!("again with the fallback GEMM kernel instead of cuBLAS");
        gpu.force_kernel_gemm();
        compare_controls(&cpu, &gpu);
    }
}

#[test]
fn cuda_bad_inputs_are_errors() {
    let cfg = Config::tiny();
    let Some(gpu) = cuda_or_skip(&cfg, 1) else { return };
    let text = DitBackend::encode_text(&gpu, &[], 0).unwrap();
    let x = vec![0.0f32; 16 * 4 * 4];
    let conds = [FrameCond::at(f32::NAN)];
    let req = SeqRequest { latents: &x, frames: 1, height: 4, width: 4, conds: &conds, rope_time: &[0], groups: None };
    assert!(gpu.forward_seq(&req, &text, None, false, None).unwrap_err().to_string().contains("not finite"));
    let req = SeqRequest { latents: &x[1..], ..req };
    assert!(gpu.forward_seq(&req, &text, None, false, None).is_err());
    assert!(DitBackend::encode_text(&gpu, &[0.0; 31], 1).is_err());
}
