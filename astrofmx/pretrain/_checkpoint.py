"""Resumable pretraining checkpoints: every tensor in safetensors, the rest in JSON; nothing pickled."""

import json
import logging
import os
from pathlib import Path

__all__ = []

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
TENSORS_FILE = "state.safetensors"


def save_checkpoint(folder, objective, optimizer, state):
    """Write the model (student, teacher, heads, loss buffers), the optimizer and ``state`` atomically."""
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in objective.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, pstate in opt["state"].items():
        for key, value in pstate.items():
            value = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
    tmp_t, tmp_s = folder / (TENSORS_FILE + ".tmp"), folder / (STATE_FILE + ".tmp")
    save_file(tensors, str(tmp_t))
    tmp_s.write_text(json.dumps({**state, "param_groups": opt["param_groups"]}, indent=1, default=str) + "\n")
    os.replace(tmp_t, folder / TENSORS_FILE)
    os.replace(tmp_s, folder / STATE_FILE)
    logger.info("checkpoint at step %d written to %s", state["step"], folder)


def has_checkpoint(folder):
    return (Path(folder) / STATE_FILE).is_file() and (Path(folder) / TENSORS_FILE).is_file()


def read_state(folder):
    return json.loads((Path(folder) / STATE_FILE).read_text())


def load_checkpoint(folder, objective, optimizer):
    """Restore what `save_checkpoint` wrote; returns the JSON state."""
    from safetensors.torch import load_file

    folder = Path(folder)
    state = read_state(folder)
    tensors = load_file(str(folder / TENSORS_FILE), device="cpu")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    objective.load_state_dict(model, strict=True)
    opt_state = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    return state
