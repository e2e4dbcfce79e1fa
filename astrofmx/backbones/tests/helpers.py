"""Helpers shared by the backbone tests: tiny architectures and randomized weights."""

import torch

#: the tiny ViT every test uses (detection and classification tests use the same options)
TINY_VIT = dict(depth=2, embed_dim=64, num_heads=2, img_size=64, device="cpu")


def randomize(module, seed=0):
    """Give every parameter and buffer of ``module`` random values (in place), so that any
    wrong key mapping changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith("running_var"):
                tensor.copy_(0.5 + noise.abs())
            elif tensor.ndim == 1 and name.endswith("weight"):  # norm scales
                tensor.copy_(1.0 + 0.2 * noise)
            else:
                tensor.copy_(0.1 * noise)
    return module


def images(n=3, size=64, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
