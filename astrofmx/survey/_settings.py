"""What a batch's results depend on besides the inputs: recorded with the results, checked on resume.

``<name>_settings.json`` in the output directory holds the settings of the
results there (the options and the model's identity, as strings). A rerun
with other settings does not skip (and later mix in) results computed with
the old ones: it stops with an error that names the changes, or, with
``resume=False``, removes the stale results before recomputing.
"""

import hashlib
import json
import logging
import numbers
import os

from ..utils import atomic_write

__all__ = []

logger = logging.getLogger(__name__)


def _weights_digest(model):
    """sha1 of the parameters and buffers of a torch module (its class, shapes, dtypes and values)."""
    import torch

    digest = hashlib.sha1(type(model).__qualname__.encode())
    for name, value in model.state_dict().items():
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        flat = value.detach().to("cpu").contiguous().reshape(-1)
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _plain(value):
    """A setting as a JSON value: numbers and strings as they are, a model as its identity, others as text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "state_dict") and callable(value.state_dict):
        described = {"class": type(value).__name__, "weights_sha1": _weights_digest(value)}
        for attr in ("config", "spec"):
            if getattr(value, attr, None) is not None:
                described[attr] = repr(getattr(value, attr))
        if getattr(value, "source", None):
            described["source"] = str(value.source)
        return described
    return str(value)


def _settings_record(settings):
    plain = {str(k): _plain(v) for k, v in sorted((settings or {}).items())}
    key = hashlib.sha1(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]
    return {"key": key, "settings": plain}


def _short(value, limit=80):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _differences(old, new, prefix=""):
    """``['name: old -> new', ...]``, naming the changed entries inside a model's record too."""
    changes = []
    for n in sorted(set(old) | set(new)):
        a, b = old.get(n, "<not set>"), new.get(n, "<not set>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            changes.extend(_differences(a, b, prefix=f"{prefix}{n}."))
        else:
            changes.append(f"{prefix}{n}: {_short(a)} -> {_short(b)}")
    return changes


def _read_settings(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the settings record {str(path)!r} of the results in that folder "
                         f"({exc}); delete it and rerun with resume=False (--no-resume), or use another "
                         "output folder") from exc


def _check_settings(items, settings, path, resume):
    """Compare the settings of this run with those of the results in the folder; record them.

    With ``resume``, results made with other settings (or with no record of
    them) stop the run with a ValueError naming the differences. Without it,
    such stale results are removed before anything is recomputed, so that an
    interrupted rerun never mixes old and new results.
    """
    record = _settings_record(settings)
    existing = [item for item in items if item.output.exists()]
    old = _read_settings(path)
    if existing and (old is None or old.get("key") != record["key"]):
        if old is None:
            why = (f"holds {len(existing)} results of this batch but no record of the settings they were "
                   f"computed with ({path.name})")
        else:
            why = (f"holds {len(existing)} results computed with other settings ("
                   + "; ".join(_differences(old.get("settings", {}), record["settings"])) + ")")
        if resume:
            raise ValueError(f"the output folder {str(path.parent)!r} {why}: they would be reused as they are. "
                             "Rerun with resume=False (on the command line --no-resume) to recompute them with "
                             "the new settings, or use another output folder")
        logger.warning("the output folder %s %s: removing them, to recompute them", path.parent, why)
        for item in existing:
            item.output.unlink(missing_ok=True)
    if old is None or old.get("key") != record["key"]:
        with atomic_write(path, overwrite=True, suffix=".json") as tmp:
            with open(tmp, "w") as fh:
                json.dump(record, fh, indent=1, sort_keys=True)
    return record
