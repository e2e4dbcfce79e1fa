"""The embedding cache and the feature files `embed` writes (npy, npz, HDF5, parquet)."""

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from astrofmx.utils import atomic_write, check_overwrite

from ._embed_inputs import _is_cutout

__all__ = []

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = (".npy", ".npz", ".h5", ".hdf5", ".parquet")
_CACHE_VERSION = 1


def _hash_item(item, digest):
    import torch
    from astropy.nddata import NDData

    if _is_cutout(item):
        item = item.data
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser().resolve()
        st = path.stat()
        digest.update(f"path:{path}:{st.st_size}:{st.st_mtime_ns}".encode())
        return
    if isinstance(item, NDData):
        _hash_item(np.asarray(item.data), digest)
        if item.mask is not None:
            _hash_item(np.asarray(item.mask), digest)
        digest.update(f"unit:{item.unit}".encode())
        return
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().contiguous().numpy()
    arr = np.ascontiguousarray(item)
    digest.update(f"array:{arr.dtype.str}:{arr.shape}:{getattr(item, 'unit', '')}".encode())
    digest.update(arr.view(np.uint8).reshape(-1) if arr.size else b"")


def _weights_digest(model):
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        t = tensor.detach().cpu().contiguous()
        digest.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return digest.hexdigest()


def _cache_key(model, items, *, pooling, precision, normalizer):
    spec = model.spec
    digest = hashlib.sha256()
    head = {"v": _CACHE_VERSION, "name": spec.name, "model": spec.model_name, "arch": spec.arch,
            "size": spec.input_size, "mean": list(spec.mean), "std": list(spec.std), "pooling": pooling,
            "precision": precision, "normalizer": repr(normalizer), "weights": _weights_digest(model)}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for item in items:
        _hash_item(item, digest)
    return digest.hexdigest()[:32]


def _check_output(output, overwrite):
    if output is None:
        return None
    output = Path(output).expanduser()
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"output must end in one of {OUTPUT_FORMATS}, got {str(output)!r}")
    check_overwrite(output, overwrite)
    if suffix == ".npy":
        check_overwrite(_ids_sidecar(output), overwrite)
    return output


def _ids_sidecar(path):
    return path.with_name(path.stem + "_ids.npy")


def _ids_array(ids):
    arr = np.asarray(ids)
    if arr.dtype == object or arr.dtype.kind not in "iuU":
        arr = np.asarray([str(i) for i in ids])
    return arr


def _write_output(features, ids, output, overwrite):
    suffix = output.suffix.lower()
    ids = _ids_array(ids)
    if suffix == ".npy":
        with atomic_write(output, overwrite=overwrite) as tmp:
            np.save(tmp, features, allow_pickle=False)
        with atomic_write(_ids_sidecar(output), overwrite=overwrite) as tmp:
            np.save(tmp, ids, allow_pickle=False)
    elif suffix == ".npz":
        with atomic_write(output, overwrite=overwrite) as tmp:
            np.savez(tmp, features=features, ids=ids)
    elif suffix in (".h5", ".hdf5"):
        import h5py

        with atomic_write(output, overwrite=overwrite) as tmp:
            with h5py.File(tmp, "w") as fh:
                fh.create_dataset("features", data=features)
                if ids.dtype.kind == "U":
                    fh.create_dataset("ids", data=ids.astype(object), dtype=h5py.string_dtype())
                else:
                    fh.create_dataset("ids", data=ids)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = pa.array(features.reshape(-1), type=pa.float32())
        table = pa.table({"id": pa.array(ids.tolist()),
                          "features": pa.FixedSizeListArray.from_arrays(flat, features.shape[1])})
        with atomic_write(output, overwrite=overwrite) as tmp:
            pq.write_table(table, tmp)
    logger.info("wrote %d feature vectors to %s", len(features), output)
