"""One Vision Transformer adapter for every ViT entry (MSN, DINO, DINOv2, MAE, timm ViTs).

The engine is timm's `~timm.models.vision_transformer.VisionTransformer`,
built with ``dynamic_img_size=True`` and ``dynamic_img_pad=True`` so that any
input size works: the position embedding is interpolated to the input's patch
grid, and sizes that are not a multiple of the patch size are padded at the
right and bottom.
"""

import logging
import math
import re
from collections import OrderedDict

import torch

from ._base import Backbone

__all__ = ["ViTBackbone"]

logger = logging.getLogger(__name__)

POOLINGS = ("cls", "mean")

# parts of research checkpoints that are not the encoder: projection heads (MSN fc, DINO head),
# MAE decoder, prototypes, classifier and pooler of transformers models
_IGNORABLE = re.compile(r"^(fc\.|head\.|head_drop|decoder|mask_token|prototypes|pooler\.|classifier\.|fc_norm\.|"
                        r"last_layer|pre_logits)")


def check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    return pooling


def check_input(x, channels):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"backbone input must be a torch.Tensor (N, {channels}, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"backbone input must have shape (N, {channels}, H, W), got {tuple(x.shape)}")


def load_converted(model, state_dict, *, name, ignorable=_IGNORABLE):
    """Load ``state_dict`` strictly, after dropping known non-encoder parts; clear errors otherwise."""
    expected = model.state_dict()
    dropped = [k for k in state_dict if k not in expected and ignorable.match(k)]
    state_dict = {k: v for k, v in state_dict.items() if k not in dropped}
    if dropped:
        logger.debug("ignoring %d checkpoint entries that are not part of the encoder: %s", len(dropped),
                     sorted({k.split(".")[0] for k in dropped}))
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
             for k, v in state_dict.items() if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} entries (e.g. {missing[:4]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected entries (e.g. {unexpected[:4]})")
        if wrong:
            parts.append(f"shape mismatches (e.g. {wrong[:3]})")
        raise ValueError(f"the weights do not fit backbone {name!r}: " + "; ".join(parts)
                         + ". Check that the checkpoint is for this architecture, or pass the matching "
                           "architecture options (e.g. depth=, embed_dim=, num_heads=, patch_size=).")
    model.load_state_dict(state_dict, strict=True)


def hf_vit_to_timm(state_dict):
    """Map a Hugging Face transformers ViT/ViTMSN state dict onto timm's ViT layout.

    Handles both the file layout (``encoder.layer.N.attention.attention.query``)
    and the in-memory layout of transformers >= 5 (``layers.N.attention.q_proj``);
    the query, key and value projections are concatenated into timm's ``qkv``.

    Parameters
    ----------
    state_dict : dict of str to `torch.Tensor`
        State dict of ``ViTMSNModel``/``ViTModel`` (a ``vit.`` prefix is removed).

    Returns
    -------
    state_dict : dict of str to `torch.Tensor`

    Examples
    --------
    >>> import torch
    >>> from astrofmx.backbones._vit import hf_vit_to_timm
    >>> sd = {"vit.embeddings.cls_token": torch.zeros(1, 1, 8), "vit.layernorm.weight": torch.ones(8)}
    >>> sorted(hf_vit_to_timm(sd))
    ['cls_token', 'norm.weight']
    """
    sd = {k[4:] if k.startswith("vit.") else k: v for k, v in state_dict.items()}
    out, qkv = {}, {}
    fixed = {
        "embeddings.cls_token": "cls_token",
        "embeddings.position_embeddings": "pos_embed",
        "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
        "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
        "layernorm.weight": "norm.weight",
        "layernorm.bias": "norm.bias",
    }
    block_map = {
        "layernorm_before": "norm1", "layernorm_after": "norm2",
        "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
        "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2",
        "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
    }
    qkv_names = {"attention.attention.query": 0, "attention.attention.key": 1, "attention.attention.value": 2,
                 "attention.q_proj": 0, "attention.k_proj": 1, "attention.v_proj": 2}
    pattern = re.compile(r"^(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$")
    for key, value in sd.items():
        if key in fixed:
            out[fixed[key]] = value
            continue
        match = pattern.match(key)
        if not match:
            out[key] = value  # left for the strict loader to report (or drop: pooler, classifier)
            continue
        block, part, kind = match.groups()
        if part in qkv_names:
            qkv.setdefault((block, kind), [None, None, None])[qkv_names[part]] = value
        elif part in block_map:
            out[f"blocks.{block}.{block_map[part]}.{kind}"] = value
        else:
            out[key] = value
    for (block, kind), parts in qkv.items():
        if any(p is None for p in parts):
            raise ValueError(f"layer {block} of the transformers checkpoint lacks a query, key or value {kind}")
        out[f"blocks.{block}.attn.qkv.{kind}"] = torch.cat(parts, dim=0)
    return out


def _is_hf_layout(state_dict):
    return any("embeddings.patch_embeddings" in k for k in state_dict)


class ViTBackbone(Backbone):
    """A timm Vision Transformer behind the astrofmx backbone contract.

    Parameters
    ----------
    model : `~timm.models.vision_transformer.VisionTransformer`
        Built with ``num_classes=0`` and ``dynamic_img_size=True``.
    spec : `~astrofmx.backbones.BackboneSpec`
        Its registry entry.
    pooling : {'cls', 'mean'}, optional
        Default pooling of `forward`: the class token, or the mean of the
        patch tokens (both after the final layer norm).

    Examples
    --------
    >>> import torch
    >>> from astrofmx.backbones import get_backbone
    >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> vit(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 32])
    >>> vit.forward_feature_maps(torch.zeros(2, 3, 48, 64))["last"].shape
    torch.Size([2, 32, 3, 4])
    """

    def __init__(self, model, spec, *, pooling="cls"):
        super().__init__()
        self.model = model
        self.spec = spec
        self.pooling = check_pooling(pooling)

    @property
    def num_prefix_tokens(self):
        """Class and register tokens in front of the patch tokens."""
        return self.model.num_prefix_tokens

    def forward_tokens(self, x):
        """All tokens after the final norm, ``(N, prefix + h*w, D)``."""
        check_input(x, self.model.patch_embed.proj.in_channels)
        return self.model.forward_features(x)

    def forward(self, x, pooling=None):
        """Pooled features ``(N, D)``: the class token (``'cls'``) or the mean patch token (``'mean'``)."""
        pooling = self.pooling if pooling is None else check_pooling(pooling)
        tokens = self.forward_tokens(x)
        if pooling == "cls":
            if self.model.cls_token is None:
                raise ValueError(f"backbone {self.spec.name!r} has no class token; use pooling='mean'")
            return tokens[:, 0]
        return tokens[:, self.num_prefix_tokens:].mean(dim=1)

    def grid_size(self, height, width):
        """Patch grid ``(h, w)`` for an input of ``height`` x ``width`` pixels (padded up to whole patches)."""
        ph, pw = self.model.patch_embed.patch_size
        return math.ceil(height / ph), math.ceil(width / pw)

    def forward_feature_maps(self, x):
        """``{'last': (N, D, ceil(H/p), ceil(W/p))}``: the patch tokens of the last block (after the final
        norm) as a map, from timm's ``forward_intermediates``."""
        check_input(x, self.model.patch_embed.proj.in_channels)
        (fmap,) = self.model.forward_intermediates(x, indices=1, norm=True, output_fmt="NCHW",
                                                   intermediates_only=True)
        return OrderedDict(last=fmap)

    def load_state_dict_converted(self, state_dict, *, config=None):
        """Load weights from timm, research (MSN, DINO, MAE, DINOv2) or transformers layouts."""
        from timm.models.vision_transformer import checkpoint_filter_fn

        if _is_hf_layout(state_dict):
            state_dict = hf_vit_to_timm(state_dict)
            if config:
                act = config.get("hidden_act", "gelu")
                if act != "gelu":
                    raise ValueError(f"transformers config has hidden_act={act!r}; only 'gelu' ViTs are supported")
                eps = config.get("layer_norm_eps")
                if eps is not None:
                    for module in self.model.modules():
                        if isinstance(module, torch.nn.LayerNorm):
                            module.eps = float(eps)
        elif "mask_token" in state_dict and any(".ls1." in k for k in state_dict):
            pass  # original DINOv2: timm's filter converts it
        else:  # drop heads/decoders before timm's filter (a MAE 'mask_token' would look like DINOv2 to it)
            expected = self.model.state_dict()
            state_dict = {k: v for k, v in state_dict.items() if k in expected or not _IGNORABLE.match(k)}
        if any(k in state_dict for k in ("model", "state_dict", "encoder")):  # would confuse timm's filter
            raise ValueError("state dict has unexpected nested entries")
        state_dict = checkpoint_filter_fn(state_dict, self.model)
        load_converted(self.model, state_dict, name=self.spec.name)
