//! The DiT's weights on the device, uploaded once from the same named tensors the CPU model reads.

use crate::error::Result;
use crate::gpu::{DevLinear, Gpu};
use cudarc::driver::CudaSlice;
use worldflow_dit::{validate, Config, TensorMap};

pub(crate) struct DevBlock {
    pub modulation: CudaSlice<f32>,
    pub q: DevLinear,
    pub k: DevLinear,
    pub v: DevLinear,
    pub o: DevLinear,
    pub norm_q: Option<CudaSlice<f32>>,
    pub norm_k: Option<CudaSlice<f32>>,
    pub prope_o: Option<DevLinear>,
    pub norm3: Option<(CudaSlice<f32>, CudaSlice<f32>)>,
    pub cq: DevLinear,
    pub ck: DevLinear,
    pub cv: DevLinear,
    pub co: DevLinear,
    pub cnorm_q: Option<CudaSlice<f32>>,
    pub cnorm_k: Option<CudaSlice<f32>>,
    pub ffn1: DevLinear,
    pub ffn2: DevLinear,
}

pub(crate) struct DevWeights {
    pub patch: DevLinear,
    pub text1: DevLinear,
    pub text2: DevLinear,
    pub time1: DevLinear,
    pub time2: DevLinear,
    pub time_proj: DevLinear,
    pub action1: Option<DevLinear>,
    pub action2: Option<DevLinear>,
    pub blocks: Vec<DevBlock>,
    pub head_mod: CudaSlice<f32>,
    pub head: DevLinear,
}

struct Loader<'a> {
    gpu: &'a Gpu,
    t: TensorMap,
}

impl Loader<'_> {
    fn vec(&mut self, name: &str) -> Result<CudaSlice<f32>> {
        let data = self.t.remove(name).map(|x| x.data).unwrap_or_default();
        self.gpu.upload(&data)
    }

    fn opt(&mut self, name: &str) -> Result<Option<CudaSlice<f32>>> {
        match self.t.remove(name) {
            Some(x) => Ok(Some(self.gpu.upload(&x.data)?)),
            None => Ok(None),
        }
    }

    /// `{name}.weight` [out, in…] (a Conv3d kernel flattens to [out, in·kt·kh·kw]) and `{name}.bias`.
    fn linear(&mut self, name: &str) -> Result<DevLinear> {
        let w = self.t.remove(&format!("{name}.weight")).ok_or_else(|| {
            worldflow_dit::DitError::WeightMismatch(format!("missing `{name}.weight` after validation"))
        })?;
        let out = w.shape.first().copied().unwrap_or(0).max(1);
        let inp = w.data.len() / out;
        let b = self.opt(&format!("{name}.bias"))?;
        Ok(DevLinear { w: self.gpu.upload(&w.data)?, b, inp, out })
    }
}

impl DevWeights {
    /// Validates `t` against `cfg` (every name and shape, as the CPU model does) and uploads it.
    pub fn upload(gpu: &Gpu, cfg: &Config, t: TensorMap) -> Result<Self> {
        cfg.validate()?;
        validate(cfg, &t)?;
        let mut l = Loader { gpu, t };
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let b = format!("blocks.{i}");
            blocks.push(DevBlock {
                modulation: l.vec(&format!("{b}.modulation"))?,
                q: l.linear(&format!("{b}.self_attn.q"))?,
                k: l.linear(&format!("{b}.self_attn.k"))?,
                v: l.linear(&format!("{b}.self_attn.v"))?,
                o: l.linear(&format!("{b}.self_attn.o"))?,
                norm_q: l.opt(&format!("{b}.self_attn.norm_q.weight"))?,
                norm_k: l.opt(&format!("{b}.self_attn.norm_k.weight"))?,
                prope_o: if cfg.camera_attention { Some(l.linear(&format!("{b}.self_attn.prope_o"))?) } else { None },
                norm3: if cfg.cross_attn_norm {
                    Some((l.vec(&format!("{b}.norm3.weight"))?, l.vec(&format!("{b}.norm3.bias"))?))
                } else {
                    None
                },
                cq: l.linear(&format!("{b}.cross_attn.q"))?,
                ck: l.linear(&format!("{b}.cross_attn.k"))?,
                cv: l.linear(&format!("{b}.cross_attn.v"))?,
                co: l.linear(&format!("{b}.cross_attn.o"))?,
                cnorm_q: l.opt(&format!("{b}.cross_attn.norm_q.weight"))?,
                cnorm_k: l.opt(&format!("{b}.cross_attn.norm_k.weight"))?,
                ffn1: l.linear(&format!("{b}.ffn.0"))?,
                ffn2: l.linear(&format!("{b}.ffn.2"))?,
            });
        }
        let actions = cfg.action_classes.is_some();
        Ok(DevWeights {
            patch: l.linear("patch_embedding")?,
            text1: l.linear("text_embedding.0")?,
            text2: l.linear("text_embedding.2")?,
            time1: l.linear("time_embedding.0")?,
            time2: l.linear("time_embedding.2")?,
            time_proj: l.linear("time_projection.1")?,
            action1: if actions { Some(l.linear("action_embedding.0")?) } else { None },
            action2: if actions { Some(l.linear("action_embedding.2")?) } else { None },
            blocks,
            head_mod: l.vec("head.modulation")?,
            head: l.linear("head.head")?,
        })
    }
}
