//! Wan2.1 causal 3D VAE decoder with streaming (latent-by-latent) decode.
