"""Result files of a batch: formats, atomic writing, reading back and combining into one catalog or array."""

import logging
from pathlib import Path

import numpy as np

from ..utils import atomic_write

__all__ = []

logger = logging.getLogger(__name__)

_EXTENSIONS = {"ecsv": ".ecsv", "fits": ".fits", "parquet": ".parquet", "npy": ".npy"}
_TABLE_FORMATS = ("ecsv", "fits", "parquet")
_ARRAY_FORMATS = ("npy",)


def _check_format(output_format):
    if output_format not in _EXTENSIONS:
        raise ValueError(f"output_format must be one of {list(_EXTENSIONS)}, got {output_format!r}")
    if output_format == "parquet":
        import importlib.util

        missing = [m for m in ("pyarrow", "pandas") if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(f"output_format='parquet' needs {' and '.join(missing)} (to write and read the "
                              f"results back): pip install {' '.join(missing)} (or 'astrofmx[parquet]'), or use "
                              "'ecsv' or 'fits'")
    return output_format


def _prepare_output_dir(output_dir):
    if output_dir is None:
        raise TypeError("output_dir is required: the directory where per-input results are written")
    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"output_dir {str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_table(table, path, fmt):
    if fmt == "parquet":
        from astropy.table import Table

        with atomic_write(path, overwrite=True, suffix=".parquet") as tmp:
            Table(table).write(tmp, format="parquet", overwrite=True)
    else:
        from ..io import write_catalog

        write_catalog(table, path, format="ascii.ecsv" if fmt == "ecsv" else "fits", overwrite=True)


def _read_table(path, fmt):
    if fmt == "parquet":
        from astropy.table import QTable

        return QTable.read(path, format="parquet")
    from ..io import read_catalog

    return read_catalog(path, format="ascii.ecsv" if fmt == "ecsv" else "fits")


def _write_array(array, path):
    with atomic_write(path, overwrite=True, suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def _rows_of(path, fmt):
    """Row count of an existing result file (cheap for npy, fits and parquet)."""
    try:
        if fmt == "npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            return shape[0] if shape else 1
        if fmt == "fits":
            from astropy.io import fits

            return int(fits.getheader(path, 1).get("NAXIS2", 0))
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        return len(_read_table(path, fmt))
    except Exception as exc:  # a result file that cannot be read is reported, not fatal here
        logger.warning("cannot read the existing result %s: %s", path, exc)
        return -1


def _combine_tables(rows, fmt, path, n_inputs):
    """Stack the result tables of ``rows`` (items) with an ``input`` column first; write them to ``path``."""
    from astropy.table import QTable, vstack

    tables = []
    for item in rows:
        table = _read_table(item.output, fmt)
        name = "input" if "input" not in table.colnames else "batch_input"
        table.add_column(np.full(len(table), item.id, dtype=object).astype(str), name=name, index=0)
        tables.append(table)
    lengths = [len(t) for t in tables]
    if not tables:
        return None, lengths
    try:
        combined = vstack(tables, join_type="outer", metadata_conflicts="silent") if len(tables) > 1 \
            else tables[0]
    except Exception as exc:
        raise ValueError(f"the per-input tables in {str(path.parent)!r} cannot be stacked into one catalog "
                         f"({type(exc).__name__}: {exc}); they are all there: read them one by one, or "
                         "pass combine=False") from exc
    combined = QTable(combined)
    combined.meta.update({"batch_inputs": n_inputs, "batch_finished": len(tables)})
    _write_table(combined, path, fmt)
    return combined, lengths


def _combined_layout(shapes, path):
    """``(stack, out_shape, counts)``: stack 1-D vectors of one length, else concatenate along axis 0."""
    if all(s == shapes[0] for s in shapes) and len(shapes[0]) <= 1:
        return True, (len(shapes),) + shapes[0], [1] * len(shapes)
    if all(len(s) >= 1 for s in shapes) and all(s[1:] == shapes[0][1:] for s in shapes):
        counts = [s[0] for s in shapes]
        return False, (sum(counts),) + shapes[0][1:], counts
    raise ValueError(f"the per-input arrays in {str(path.parent)!r} cannot be combined: shapes "
                     f"{sorted(set(shapes))[:4]} differ beyond the first axis; pass combine=False")


def _combine_arrays(rows, path):
    """Write the result arrays of ``rows`` into one memory-mapped ``path`` (+ ``<stem>_ids.npy``)."""
    if not rows:
        return None, None, []
    arrays = [np.load(item.output, mmap_mode="r", allow_pickle=False) for item in rows]
    shapes = [a.shape for a in arrays]
    lengths = [s[0] if s else 1 for s in shapes]
    dtype = np.result_type(*[a.dtype for a in arrays])
    stack, out_shape, counts = _combined_layout(shapes, path)
    with atomic_write(path, overwrite=True, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=out_shape)
        pos = 0
        for arr, n in zip(arrays, counts):
            out[pos:pos + n] = arr[None] if stack else arr
            pos += n
        out.flush()
        del out
    ids = np.repeat(np.array([item.id for item in rows], dtype=str), counts)
    _write_array(ids, path.with_name(path.name[: -len(".npy")] + "_ids.npy"))
    return np.load(path, mmap_mode="r", allow_pickle=False), ids, lengths
