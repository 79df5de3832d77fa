//! Wan2.1-family diffusion transformer: chunk-wise causal generation with KV cache.
