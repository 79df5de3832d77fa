"""Loads modules of the official Wan2.1 code from a checkout given at run time (nothing of it is kept in
this repository), on CPU in float32.

    mod = load("/work/wan21", "model")   # wan.modules.model, attention routed to the SDPA fallback

The checkout is found from the argument or `WAN_REPO`. Only the named module and what it imports are
loaded: `wan/__init__.py` and `wan/modules/__init__.py` would pull in the whole pipeline (T5, CLIP,
diffusers, distributed), so the two packages are registered empty. Shims, each only where the real thing
is missing:
- `diffusers` (model.py subclasses `ModelMixin, ConfigMixin` for `WanModel`; `WanAttentionBlock` is a
  plain `nn.Module` and never touches them): stand-in base classes;
- flash-attn: the official blocks call `flash_attention`, which asserts CUDA. `attention.py` has the
  fallback (`attention()`: `scaled_dot_product_attention` when neither flash-attn 2 nor 3 is installed)
  but casts q, k, v to its `dtype` argument, bfloat16 by default. `model.flash_attention` is pointed at
  that official fallback with dtype=float32. The padding lengths (`k_lens`) are only passed where they
  mask something: the fallback ignores them (with a warning), and in the benchmarks they always equal
  the full length.
"""
import importlib
import os
import sys
import types
import warnings

import torch


def repo_path(path=None):
    path = path or os.environ.get("WAN_REPO")
    if not path or not os.path.isfile(os.path.join(path, "wan", "modules", "model.py")):
        raise SystemExit(f"need a checkout of the official Wan2.1 repository (--wan-repo DIR or WAN_REPO); got {path!r}")
    return os.path.abspath(path)


def _diffusers_stub():
    try:
        import diffusers.configuration_utils  # noqa: F401
        import diffusers.models.modeling_utils  # noqa: F401
        return
    except ImportError:
        pass

    class ConfigMixin:
        pass

    class ModelMixin(torch.nn.Module):
        pass

    def register_to_config(f):
        return f

    root = types.ModuleType("diffusers")
    cu = types.ModuleType("diffusers.configuration_utils")
    cu.ConfigMixin, cu.register_to_config = ConfigMixin, register_to_config
    models = types.ModuleType("diffusers.models")
    mu = types.ModuleType("diffusers.models.modeling_utils")
    mu.ModelMixin = ModelMixin
    root.configuration_utils, root.models, models.modeling_utils = cu, models, mu
    sys.modules.update({"diffusers": root, "diffusers.configuration_utils": cu, "diffusers.models": models,
                        "diffusers.models.modeling_utils": mu})


def load(path, name):
    """`wan.modules.<name>` from the checkout at `path` (see the module docstring)."""
    root = repo_path(path)
    for pkg, sub in (("wan", "wan"), ("wan.modules", os.path.join("wan", "modules"))):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [os.path.join(root, sub)]
            sys.modules[pkg] = m
    if name == "model":
        _diffusers_stub()
    # upstream's `torch.cuda.amp.autocast` decorators and contexts (no-ops on CPU) warn
    warnings.filterwarnings("ignore", message=".*torch.cuda.amp.autocast.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message="CUDA is not available.*Disabling autocast", category=UserWarning)
    mod = importlib.import_module(f"wan.modules.{name}")
    if name == "model":
        att = importlib.import_module("wan.modules.attention")
        assert not (att.FLASH_ATTN_2_AVAILABLE or att.FLASH_ATTN_3_AVAILABLE), "flash-attn is installed: not a CPU run"

        def sdpa_fallback(q, k, v, q_lens=None, k_lens=None, **kw):
            def full(lens, n):
                return lens is None or bool((lens == n).all())

            if not full(q_lens, q.shape[1]) or not full(k_lens, k.shape[1]):
                raise ValueError("padding lengths shorter than the sequence: the SDPA fallback would ignore them")
            kw.pop("version", None)
            kw.pop("dtype", None)
            return att.attention(q, k, v, dtype=torch.float32, **kw)

        mod.flash_attention = sdpa_fallback
    return mod
