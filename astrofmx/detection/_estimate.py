"""How long frozen-backbone detector training takes, roughly: the hint of ``detect_sources(image, backbone=...)``
when no detector is trained for that backbone."""

__all__ = []

#: forward GFLOP of one 224-pixel image (ViT-B/16, ViT-B/14, ResNets); other sizes scale with the area
_BACKBONE_GFLOP = {"vit": 35.0, "resnet18": 3.6, "resnet50": 8.2}
_HEADS_GFLOP = 100.0  # one training step of the pyramid, RPN and RoI heads on one 224-pixel tile (measured ratio)
#: sustained GFLOP/s (rough: bf16 on an H100/H200-class GPU; fp32 per CPU core)
_GPU_RATE = {"backbone": 300e3, "heads": 30e3}
_CPU_CORE_RATE = 5.0
_GPU_STEP_S = 0.015  # per tile and step on a GPU: kernel launches, sampling and box coding (a guess)


def _frozen_training_seconds(backbone, n_tiles, epochs, *, input_size=256, n_variants=8, device="gpu", cores=1):
    """A rough duration (s) of frozen training from cached features: backbone once per (tile, symmetry), then
    the heads ``epochs`` times per tile."""
    from ..backbones import get_backbone_spec

    spec = get_backbone_spec(backbone)
    key = "vit" if spec.arch == "vit" else spec.name if spec.name in _BACKBONE_GFLOP else "resnet50"
    area = (input_size / 224) ** 2
    work = {"backbone": _BACKBONE_GFLOP[key] * (16 / spec.patch_size if spec.arch == "vit" else 1) ** 2 * area
            * n_tiles * n_variants, "heads": _HEADS_GFLOP * area * n_tiles * epochs}
    if device == "gpu":
        return sum(work[k] / _GPU_RATE[k] for k in work) + _GPU_STEP_S * n_tiles * epochs
    return sum(work.values()) / (_CPU_CORE_RATE * max(1, cores))


def _duration(seconds):
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
