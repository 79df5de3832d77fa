//! One generated block of latents, as the node sends it.

use worldflow_protocol::arrow_io::latent::LatentHeader;

/// One generated chunk (or Matrix-Game block): its header and its `[C, F, H, W]` latents.
pub struct Generated {
    pub header: LatentHeader,
    pub cfhw: Vec<f32>,
}
