//! `worldflow model check`: one DiT forward or one VAE decode on given tensors, so a user porting a checkpoint
//! can compare with their PyTorch code. Inputs and outputs are safetensors; names as in the engines' docs
//! (DiT: `x` [C,F,H,W], `t`, `context` [L,text_dim], optional controls `actions` [F], `c2w` [F,4,4] +
//! `intrinsics` [F,4], `rope_time` [F], `groups` [G], optional expected `out`; VAE: `z`, optional `video`).
//! `--model worldplay-wan` and `--model matrix-game` take the golden case files of those models as they are
//! (their calls, caches and stored outputs: ../shared/data/{worldplay,matrixgame}-goldens) and the model's
//! official `config.json`; `--kind vae` reads the Wan2.1 or the Wan2.2 layout from its config.

use std::path::PathBuf;
use worldflow_node_kit::ErrorChain as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    Dit,
    Vae,
}

/// Which network a DiT check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelFamily {
    /// Wan2.1 (and worldflow's action/camera controls): one forward on `--inputs`.
    #[value(name = "wan2.1")]
    Wan21,
    /// HY-WorldPlay's WAN path (Wan2.2-TI2V-5B base): a chunk case, or a memory call plus the chunk call
    /// using its KV cache.
    WorldplayWan,
    /// Matrix-Game 2.0: a stream of calls with its KV caches, its sampler and the context re-run.
    MatrixGame,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Which engine runs the check.
    #[arg(long, value_enum, default_value = "dit")]
    pub kind: ModelKind,
    /// DiT only: which network (`--config` is that model's official config.json).
    #[arg(long, value_enum, default_value = "wan2.1")]
    pub model: ModelFamily,
    /// Model config (JSON).
    #[arg(long)]
    pub config: PathBuf,
    /// Weights (official tensor names): a safetensors file (F32/BF16/F16), a `*.safetensors.index.json` of
    /// shards, or a folder holding either.
    #[arg(long)]
    pub weights: PathBuf,
    /// Input tensors (safetensors). DiT: `x` [C,F,H,W], `t` [1] or [F], `context` [L,text_dim]; optional
    /// `actions` [F] (integer action label per frame, needs `action_classes` in the config), `c2w` [F,4,4]
    /// (camera-to-world, OpenCV axes) with `intrinsics` [F,4] (fx, fy, cx, cy) for the PRoPE camera branch
    /// (needs `camera_attention`), `rope_time` [F], `groups` [G] (block-causal frame groups); `out` to compare.
    #[arg(long)]
    pub inputs: PathBuf,
    /// Where to write the output tensors (safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// DiT only: keep the block linear weights as `f32` or quantize them to `int8` (Q8_0 blocks of 32).
    #[arg(long, value_name = "FORMAT", default_value = "f32", value_parser = parse_weight_format)]
    pub quantize: worldflow_dit::WeightFormat,
    /// DiT only: run the forward on `cpu` or on a CUDA device (`cuda`, `cuda:N`; f32 weights, needs an
    /// NVIDIA driver and NVRTC, see engines/dit-cuda).
    #[arg(long, value_name = "DEVICE", default_value = "cpu", value_parser = parse_device)]
    pub device: worldflow_dit_cuda::Device,
}

/// The error of a command-line value parser (clap shows its message and keeps its source).
type ParseError = Box<dyn std::error::Error + Send + Sync>;

fn parse_device(s: &str) -> Result<worldflow_dit_cuda::Device, ParseError> {
    s.parse().map_err(Into::into)
}

fn parse_weight_format(s: &str) -> Result<worldflow_dit::WeightFormat, ParseError> {
    s.parse().map_err(Into::into)
}

pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    if args.model != ModelFamily::Wan21 {
        if args.kind == ModelKind::Vae {
            anyhow::bail!("--model: a VAE check reads its layout (Wan2.1 or Wan2.2) from --config; leave --model out");
        }
        if args.quantize != worldflow_dit::WeightFormat::F32 || args.device != worldflow_dit_cuda::Device::Cpu {
            anyhow::bail!("--quantize/--device: only the Wan2.1 check (--model wan2.1) takes them");
        }
    }
    match args.kind {
        ModelKind::Dit if args.model == ModelFamily::WorldplayWan => {
            let r = worldflow_dit::check_worldplay_case(&args.config, &args.weights, &args.inputs, &args.out)
                .chain_context("worldplay-wan check")?;
            println!("worldplay-wan {} case → {}", r.kind, args.out.display());
            for (name, e) in r.errors.iter().filter(|(n, _)| !n.starts_with("trace.")) {
                println!("max relative error vs the case's `{name}`: {e:.3e}");
            }
            let traces = r.errors.iter().filter(|(n, _)| n.starts_with("trace.")).map(|(_, e)| *e);
            println!(
                "max relative error over {} traces: {:.3e}",
                traces.clone().count(),
                traces.fold(0.0f32, f32::max)
            );
            println!("max relative error over the outputs: {:.3e}", r.max_output_err());
        }
        ModelKind::Dit if args.model == ModelFamily::MatrixGame => {
            let r =
                worldflow_dit::matrixgame::check_matrixgame(&args.config, &args.weights, &args.inputs, Some(&args.out))
                    .chain_context("matrix-game check")?;
            println!("matrix-game: {} calls → {}", r.calls.len(), args.out.display());
            for c in &r.calls {
                println!(
                    "call {:>2} (block {}, {}): max relative error flow_pred {:.3e}, x0 {:.3e}",
                    c.index, c.block, c.kind, c.flow_pred, c.x0
                );
            }
            let caches = r.caches.iter().fold(0.0f32, |m, (_, e)| m.max(*e));
            println!("max relative error over {} cache tensors: {caches:.3e}", r.caches.len());
            for m in &r.index_mismatches {
                println!("cache index differs: {m}");
            }
            println!("max relative error over the traces: {:.3e}", r.max_trace_rel_err());
            println!("max relative error over the outputs: {:.3e}", r.max_rel_err());
        }
        ModelKind::Dit => {
            let r = match args.device {
                worldflow_dit_cuda::Device::Cpu => worldflow_dit::check_forward_with(
                    &args.config,
                    &args.weights,
                    &args.inputs,
                    &args.out,
                    args.quantize,
                )
                .chain_context("dit forward check")?,
                worldflow_dit_cuda::Device::Cuda(n) => {
                    if args.quantize != worldflow_dit::WeightFormat::F32 {
                        anyhow::bail!(
                            "--quantize {} --device {}: the CUDA backend runs f32 weights",
                            args.quantize,
                            args.device
                        );
                    }
                    let (r, device) =
                        worldflow_dit_cuda::check_forward_cuda(&args.config, &args.weights, &args.inputs, &args.out, n)
                            .with_chain_context(|| format!("--device {}", args.device))?;
                    println!("device: {device}");
                    r
                }
            };
            let controls = if r.used_optional.is_empty() { "none".to_owned() } else { r.used_optional.join(", ") };
            println!(
                "dit forward ({} weights, optional inputs: {controls}): out {:?} → {}",
                r.weights,
                r.out_shape,
                args.out.display()
            );
            if let Some(e) = r.max_rel_err_vs_inputs_out {
                println!("max relative error vs the inputs' `out`: {e:.3e}");
            }
        }
        ModelKind::Vae => {
            if args.quantize != worldflow_dit::WeightFormat::F32 {
                anyhow::bail!("--quantize {}: only the DiT (--kind dit) supports quantized weights", args.quantize);
            }
            if args.device != worldflow_dit_cuda::Device::Cpu {
                anyhow::bail!("--device {}: only the DiT (--kind dit) runs on CUDA", args.device);
            }
            let r = worldflow_vae::check_decode(&args.config, &args.weights, &args.inputs, &args.out)
                .chain_context("vae decode check")?;
            println!(
                "vae decode, {}: latents {:?} → video {:?} → {}",
                r.layout,
                r.latent_shape,
                r.video_shape,
                args.out.display()
            );
            for (name, e) in &r.stream_max_rel_err {
                println!("max relative error vs the inputs' `{name}`: {e:.3e}");
            }
            if let (Some(abs), Some(rel)) = (r.max_abs_diff, r.max_rel_err) {
                println!("max relative error vs the inputs' `video`: {rel:.3e} (max abs {abs:.3e})");
            }
        }
    }
    Ok(())
}
