//! `worldflow model check`: one DiT forward or one VAE decode on given tensors, so a user porting a checkpoint
//! can compare with their PyTorch code. Inputs and outputs are safetensors; names as in the engines' docs
//! (DiT: `x` [C,F,H,W], `t`, `context` [L,text_dim], optional expected `out`; VAE: `z`, optional `video`).

use std::path::PathBuf;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModelKind {
    Dit,
    Vae,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Which engine runs the check.
    #[arg(long, value_enum, default_value = "dit")]
    pub kind: ModelKind,
    /// Model config (JSON).
    #[arg(long)]
    pub config: PathBuf,
    /// Weights (safetensors, public Wan2.1 tensor names).
    #[arg(long)]
    pub weights: PathBuf,
    /// Input tensors (safetensors).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Where to write the output tensors (safetensors).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    match args.kind {
        ModelKind::Dit => {
            let r = worldflow_dit::check_forward(&args.config, &args.weights, &args.inputs, &args.out).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("dit forward: out {:?} → {}", r.out_shape, args.out.display());
            if let Some(e) = r.max_rel_err_vs_inputs_out {
                println!("max relative error vs the inputs' `out`: {e:.3e}");
            }
        }
        ModelKind::Vae => {
            let r = worldflow_vae::check_decode(&args.config, &args.weights, &args.inputs, &args.out).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("vae decode: latents {:?} → video {:?} → {}", r.latent_shape, r.video_shape, args.out.display());
            println!("{r:?}");
        }
    }
    Ok(())
}
