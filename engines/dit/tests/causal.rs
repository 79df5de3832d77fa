//! Chunk-wise causal generation: the KV-cache path must equal a full recomputation with a
//! block-causal mask. Tolerance 2e-5 relative: both paths do the same f32 arithmetic except for
//! the order in which attention key tiles are visited (online softmax), which moves results by
//! ~1e-6.

use worldflow_dit::*;
use worldflow_testkit::max_rel_err;

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

fn control_model() -> WanModel {
    let cfg = Config { action_classes: Some(81), camera_attention: true, ..Config::tiny() };
    WanModel::random(&cfg, 3).expect("model")
}

/// Frames [C, H, W] of a [C, F, H, W] tensor, sliced to frames `f0..f1`.
fn slice_frames(x: &[f32], c: usize, f: usize, hw: usize, f0: usize, f1: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for ci in 0..c {
        out.extend_from_slice(&x[(ci * f + f0) * hw..(ci * f + f1) * hw]);
    }
    out
}

#[test]
fn cached_chunks_equal_block_causal_full_forward() {
    let model = control_model();
    let cfg = model.config().clone();
    let (frames, h, w, chunk) = (6, 4, 6, 2);
    let hw = h * w;
    let mut rng = Rng::new(11);
    let latents = rng.normal_vec(cfg.in_dim * frames * hw, 1.0);
    let conds: Vec<FrameCond> = (0..frames)
        .map(|f| FrameCond {
            timestep: 100.0 * f as f32 + 37.0,
            action: Some((f * 13 % 81) as u32),
            camera: Some(cam(f)),
        })
        .collect();
    let ctx = rng.normal_vec(10 * cfg.text_dim, 1.0);
    let text = model.encode_text(&ctx, 10).expect("text");
    let rope: Vec<usize> = (0..frames).collect();
    let groups = vec![chunk; frames / chunk];
    let full_req = SeqRequest {
        latents: &latents,
        frames,
        height: h,
        width: w,
        conds: &conds,
        rope_time: &rope,
        groups: Some(&groups),
    };
    let (full, _) = model.forward_seq(&full_req, &text, None, false, None).expect("full");

    // A non-causal forward differs (the mask matters), so the comparison below can fail.
    let dense_req = SeqRequest { groups: None, ..full_req };
    let (dense, _) = model.forward_seq(&dense_req, &text, None, false, None).expect("dense");
    assert!(
        max_rel_err(
            "dense vs block-causal",
            &slice_frames(&dense, cfg.out_dim, frames, hw, 0, 2),
            &slice_frames(&full, cfg.out_dim, frames, hw, 0, 2)
        ) > 1e-3
    );

    let mut cache = KvCache::new();
    let tpf = (h / 2) * (w / 2);
    for c in 0..frames / chunk {
        let (f0, f1) = (c * chunk, (c + 1) * chunk);
        let lat = slice_frames(&latents, cfg.in_dim, frames, hw, f0, f1);
        let req = SeqRequest {
            latents: &lat,
            frames: chunk,
            height: h,
            width: w,
            conds: &conds[f0..f1],
            rope_time: &rope[f0..f1],
            groups: None,
        };
        let past: Option<&dyn PastKv> = if c == 0 { None } else { Some(&cache) };
        let (out, rec) = model.forward_seq(&req, &text, past, true, None).expect("chunk");
        let want = slice_frames(&full, cfg.out_dim, frames, hw, f0, f1);
        let e = max_rel_err("cached chunk", &out, &want);
        assert!(e < 2e-5, "chunk {c}: cached vs full relative error {e}");
        let meta = (f0..f1)
            .map(|f| CachedFrame {
                index: f,
                rope_time: f,
                group: c,
                latent: Vec::new(),
                cond: conds[f],
                layers: Vec::new(),
            })
            .collect();
        cache.push_chunk(meta, rec.expect("rec"), tpf, cfg.dim);
    }
}

fn gen_cfg(policy: CachePolicy, sampler: SamplerKind) -> GenConfig {
    GenConfig {
        chunk_frames: 2,
        height: 4,
        width: 4,
        sigmas: sigmas_from_timesteps(&[1000.0, 750.0, 500.0, 250.0], 5.0),
        sampler,
        policy,
        cache_timestep: 0.0,
        seed: 5,
    }
}

/// A Rebuild generator (memory: the first 2 and the last 2 frames) with one branch seeing actions and cameras.
fn rebuild_generator<'m>(model: &'m WanModel, text: &TextContext) -> ChunkGenerator<'m> {
    let cfg = gen_cfg(CachePolicy::Rebuild { recent: 2, first: 2, context_timestep: 14.0 }, SamplerKind::EulerFlow);
    let branch = Branch { text: text.clone(), use_actions: true, use_camera: true };
    ChunkGenerator::new(model, cfg, Guidance::None, vec![branch]).expect("gen")
}

/// The generator's cache must equal a full block-causal forward over its frames at t = 0.
fn assert_cache_is_full_recompute(model: &WanModel, cache: &KvCache, text: &TextContext, chunk: usize) {
    let cfg = model.config();
    let n = cache.frames.len();
    let hw = 16;
    let mut latents = vec![0.0f32; cfg.in_dim * n * hw];
    for (f, fr) in cache.frames.iter().enumerate() {
        for ci in 0..cfg.in_dim {
            latents[(ci * n + f) * hw..(ci * n + f + 1) * hw].copy_from_slice(&fr.latent[ci * hw..(ci + 1) * hw]);
        }
    }
    let conds: Vec<FrameCond> = cache.frames.iter().map(|f| f.cond).collect();
    let rope: Vec<usize> = cache.frames.iter().map(|f| f.rope_time).collect();
    let groups = vec![chunk; n / chunk];
    let req = SeqRequest {
        latents: &latents,
        frames: n,
        height: 4,
        width: 4,
        conds: &conds,
        rope_time: &rope,
        groups: Some(&groups),
    };
    let (_, rec) = model.forward_seq(&req, text, None, true, None).expect("full");
    let rec = rec.expect("rec");
    let span = 4 * cfg.dim;
    for (li, layer) in rec.iter().enumerate() {
        for (f, fr) in cache.frames.iter().enumerate() {
            let r = f * span..(f + 1) * span;
            assert!(max_rel_err("k", &fr.layers[li].k, &layer.k[r.clone()]) < 2e-5, "layer {li} frame {f} k");
            assert!(max_rel_err("v", &fr.layers[li].v, &layer.v[r.clone()]) < 2e-5, "layer {li} frame {f} v");
            assert!(
                max_rel_err("cam k", &fr.layers[li].cam_k, &layer.cam_k[r.clone()]) < 2e-5,
                "layer {li} frame {f} cam k"
            );
        }
    }
}

#[test]
fn generator_cache_and_prompt_switch_match_full_recompute() {
    let model = control_model();
    let cfg = model.config().clone();
    let mut rng = Rng::new(2);
    let text_a = model.encode_text(&rng.normal_vec(8 * cfg.text_dim, 1.0), 8).expect("a");
    let text_b = model.encode_text(&rng.normal_vec(8 * cfg.text_dim, 1.0), 8).expect("b");
    let null = model.encode_text(&[], 0).expect("null");
    let branches = vec![
        Branch { text: text_a.clone(), use_actions: true, use_camera: true },
        Branch { text: null.clone(), use_actions: false, use_camera: false },
    ];
    let mut g = ChunkGenerator::new(
        &model,
        gen_cfg(CachePolicy::Rolling { window: 100, sink: 0 }, SamplerKind::X0Renoise),
        Guidance::Cfg { scale: 3.0 },
        branches,
    )
    .expect("gen");
    for c in 0..3 {
        let controls = ChunkControls {
            actions: Some(vec![c * 9 + 1, 40]),
            cameras: Some(vec![cam(2 * c as usize), cam(2 * c as usize + 1)]),
        };
        let out = g.next_chunk(&controls).expect("chunk");
        assert_eq!(out.shape, vec![16, 2, 4, 4]);
        assert!(out.data.iter().all(|x| x.is_finite()));
    }
    assert_eq!(g.cache(0).frame_indices(), vec![0, 1, 2, 3, 4, 5]);
    assert_cache_is_full_recompute(&model, g.cache(0), &text_a, 2);
    assert_cache_is_full_recompute(&model, g.cache(1), &null, 2);
    let before = g.cache(0).frames[5].layers[1].k.clone();
    g.switch_prompt(vec![text_b.clone(), null.clone()]).expect("switch");
    assert!(max_rel_err("re-cached k", &g.cache(0).frames[5].layers[1].k, &before) > 1e-4, "re-cache must change K/V");
    assert_cache_is_full_recompute(&model, g.cache(0), &text_b, 2);
    g.next_chunk(&ChunkControls::default()).expect("after switch");
}

#[test]
fn rolling_window_keeps_sinks_and_recent_frames() {
    let model = WanModel::random(&Config::tiny(), 1).expect("model");
    let text = model.encode_text(&[], 0).expect("text");
    let cfg =
        GenConfig { chunk_frames: 1, ..gen_cfg(CachePolicy::Rolling { window: 2, sink: 1 }, SamplerKind::EulerFlow) };
    let branches = vec![Branch { text, use_actions: false, use_camera: false }];
    let mut g = ChunkGenerator::new(&model, cfg, Guidance::None, branches).expect("gen");
    for _ in 0..5 {
        g.next_chunk(&ChunkControls::default()).expect("chunk");
    }
    assert_eq!(g.cache(0).frame_indices(), vec![0, 3, 4]);
    let rope: Vec<usize> = g.cache(0).frames.iter().map(|f| f.rope_time).collect();
    assert_eq!(rope, vec![0, 3, 4], "rolling policy keeps absolute RoPE times");
}

#[test]
fn rebuild_policy_is_deterministic_and_uses_memory() {
    let model = control_model();
    let text = model.encode_text(&[], 0).expect("text");
    let mk = || rebuild_generator(&model, &text);
    let (mut a, mut b) = (mk(), mk());
    let mut outs = Vec::new();
    for _ in 0..3 {
        let x = a.next_chunk(&ChunkControls::default()).expect("a");
        let y = b.next_chunk(&ChunkControls::default()).expect("b");
        assert_eq!(x, y, "same seed, same output");
        outs.push(x);
    }
    assert_eq!(a.default_memory(), vec![0, 1, 4, 5]);
    // A different memory set changes the result (the context is used).
    let mut c = mk();
    c.next_chunk(&ChunkControls::default()).expect("c0");
    c.next_chunk(&ChunkControls::default()).expect("c1");
    let z = c.next_chunk_with_memory(&ChunkControls::default(), &[3]).expect("c2");
    assert!(max_rel_err("z", &z.data, &outs[2].data) > 1e-4);
    assert!(c.next_chunk_with_memory(&ChunkControls::default(), &[3, 2]).is_err());
}

#[test]
fn memory_prefilled_ahead_gives_the_same_chunk_and_a_wrong_guess_is_dropped() {
    let model = control_model();
    let text = model.encode_text(&[], 0).expect("text");
    let mk = || rebuild_generator(&model, &text);
    let controls = |k: usize| ChunkControls {
        actions: Some(vec![(3 * k) as u32, (3 * k + 1) as u32]),
        cameras: Some(vec![cam(2 * k), cam(2 * k + 1)]),
    };
    let (mut plain, mut ahead) = (mk(), mk());
    // Chunk 0 has no memory: nothing to prefill.
    assert!(!ahead.prefill_memory(&[]).expect("empty set"));
    for k in 0..2 {
        assert_eq!(
            plain.next_chunk(&controls(k)).expect("plain"),
            ahead.next_chunk(&controls(k)).expect("ahead"),
            "chunk {k}"
        );
    }
    // Right guess: the chunk uses the prefilled context and is bit for bit the plain chunk.
    let memory = plain.default_memory();
    assert!(ahead.prefill_memory(&memory).expect("prefill"));
    let x = plain.next_chunk_with_memory(&controls(2), &memory).expect("plain 2");
    let y = ahead.next_chunk_with_memory(&controls(2), &memory).expect("ahead 2");
    assert_eq!(x, y, "a context prefilled ahead must be the context the chunk computes");
    assert_eq!(ahead.prefill_stats(), PrefillStats { ahead_used: 1, ahead_dropped: 0, in_chunk: 1 });
    // Wrong guess: dropped, the chunk computes its own context, same output as without the guess.
    assert!(ahead.prefill_memory(&[0, 5]).expect("prefill guess"));
    let memory = plain.default_memory();
    let x = plain.next_chunk_with_memory(&controls(3), &memory).expect("plain 3");
    let y = ahead.next_chunk_with_memory(&controls(3), &memory).expect("ahead 3");
    assert_eq!(x, y, "a wrong guess must not change the chunk");
    assert_eq!(ahead.prefill_stats(), PrefillStats { ahead_used: 1, ahead_dropped: 1, in_chunk: 2 });
    // A guess naming frames not generated yet is a clear error.
    let err = ahead.prefill_memory(&[0, 99]).expect_err("index past the history");
    assert!(err.to_string().contains("memory"), "{err}");
}

#[test]
fn a_history_spilled_to_disk_gives_the_same_chunks_as_one_in_ram() {
    let model = control_model();
    let text = model.encode_text(&[], 0).expect("text");
    let mk = || rebuild_generator(&model, &text);
    let (mut ram, mut spilled) = (mk(), mk());
    spilled.spill_history(&std::env::temp_dir(), 2).expect("spill file");
    for k in 0..5 {
        // The default memory names the first chunk's frames, long gone from RAM in `spilled`.
        assert_eq!(
            ram.next_chunk(&ChunkControls::default()).expect("ram"),
            spilled.next_chunk(&ChunkControls::default()).expect("spilled"),
            "chunk {k}"
        );
    }
    assert_eq!((ram.latents_in_ram(), spilled.latents_in_ram()), (10, 2));
    assert_eq!(ram.frame_latent(0).expect("0"), spilled.frame_latent(0).expect("0"));
    assert!(spilled.frame_latent(10).is_err(), "frame 10 has not been generated");
}
