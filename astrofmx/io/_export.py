"""Writing and reading source catalogs as ECSV, FITS or VOTable files that TOPCAT/STILTS read."""

import json
import logging
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from ..utils import atomic_write
from ._provenance import annotate_table

__all__ = ["write_catalog", "read_catalog"]

logger = logging.getLogger(__name__)

_FORMATS = {".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".fts": "fits", ".vot": "votable",
            ".xml": "votable", ".votable": "votable"}


def _format_of(filename, format):
    if format is not None:
        if format not in set(_FORMATS.values()):
            raise ValueError(f"format must be one of {sorted(set(_FORMATS.values()))}, got {format!r}")
        return format
    suffix = Path(filename).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"cannot tell the catalog format from the extension {suffix!r} of {str(filename)!r}; "
                         f"use one of {sorted(_FORMATS)} or pass format=")
    return _FORMATS[suffix]


def _flat_table(catalog, fmt):
    """A plain Table with every SkyCoord column split into ICRS ``ra``/``dec`` in degrees."""
    table = Table(catalog, copy=True)
    for name in list(table.colnames):
        col = table[name]
        if not isinstance(col, SkyCoord):
            continue
        index = table.colnames.index(name)
        prefix = "" if name == "sky_centroid" else f"{name}_"
        icrs = col.icrs
        table.remove_column(name)
        table.add_column(np.asarray(icrs.ra.deg, dtype=float), name=f"{prefix}ra", index=index)
        table.add_column(np.asarray(icrs.dec.deg, dtype=float), name=f"{prefix}dec", index=index + 1)
        table[f"{prefix}ra"].unit = u.deg
        table[f"{prefix}dec"].unit = u.deg
        table[f"{prefix}ra"].description = f"ICRS right ascension of {name}"
        table[f"{prefix}dec"].description = f"ICRS declination of {name}"
        if fmt == "votable" and not prefix:
            table["ra"].meta["ucd"] = "pos.eq.ra;meta.main"
            table["dec"].meta["ucd"] = "pos.eq.dec;meta.main"
    full = json.dumps(catalog.meta, default=str, sort_keys=True)
    meta = {}
    for key in ("finder", "date"):
        if key in catalog.meta and np.isscalar(catalog.meta[key]):
            meta[key.upper()] = str(catalog.meta[key])
    meta["AFMXMETA"] = full  # the full provenance, as JSON (a long FITS string with CONTINUE cards)
    table.meta = meta
    return table


def write_catalog(catalog, filename, *, format=None, overwrite=False, image=None):
    """Write a source catalog as ECSV, FITS or VOTable (for TOPCAT, STILTS, DS9...).

    Every column gets a description and the metadata the provenance (date,
    versions, the image's file name), by `annotate_table`.

    ECSV keeps everything (the ``sky_centroid`` `~astropy.coordinates.SkyCoord`
    column and nested metadata).  FITS and VOTable cannot store a SkyCoord,
    so ``sky_centroid`` is written as two plain columns ``ra`` and ``dec``
    (ICRS, degrees; in VOTable with the UCDs ``pos.eq.ra;meta.main`` /
    ``pos.eq.dec;meta.main``, so TOPCAT and STILTS find the positions
    without being told), and the metadata as ``FINDER``, ``DATE`` and the
    whole provenance as JSON in ``AFMXMETA``.  `read_catalog` reverses this.

    Parameters
    ----------
    catalog : `~astropy.table.QTable`
        A source catalog (see `make_source_catalog`).
    filename : str or path-like
        Output file; the format follows the extension (``.ecsv``,
        ``.fits``, ``.vot``/``.xml``) unless ``format`` is given.
    format : {'ascii.ecsv', 'fits', 'votable'}, optional
        Output format.
    overwrite : bool, optional
        Replace an existing file.
    image : str or path-like, optional
        The image the catalog was made from; its file name goes into
        ``meta['image']``.

    Returns
    -------
    None

    Raises
    ------
    FileExistsError
        If ``filename`` exists and ``overwrite`` is False.
    ValueError
        If the format is unknown.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.io import make_source_catalog, write_catalog, read_catalog
    >>> cat = make_source_catalog([[10, 20, 14, 26]], scores=[0.9])
    >>> fname = pathlib.Path(tempfile.mkdtemp()) / "sources.vot"
    >>> write_catalog(cat, fname)
    >>> read_catalog(fname).colnames[:3]
    ['id', 'x_centroid', 'y_centroid']
    """
    fmt = _format_of(filename, format)
    catalog = annotate_table(catalog, image=image)
    table = catalog if fmt == "ascii.ecsv" else _flat_table(catalog, fmt)
    suffix = Path(filename).suffix or None
    with atomic_write(filename, overwrite=overwrite, suffix=suffix) as tmp:
        if fmt == "votable":
            from astropy.io.votable import from_table
            from astropy.io.votable.tree import Info

            votable = from_table(table)
            for key, value in table.meta.items():  # Table.write drops meta for VOTable: keep it as INFO
                votable.resources[0].tables[0].infos.append(Info(name=key, value=value))
            votable.to_xml(str(tmp))
        else:
            table.write(tmp, format=fmt, overwrite=True)
    logger.info("wrote %d sources to %s (%s)", len(catalog), filename, fmt)


def read_catalog(filename, *, format=None):
    """Read a catalog written by `write_catalog` back into a `~astropy.table.QTable`.

    ``ra``/``dec`` columns become the ``sky_centroid`` SkyCoord column
    again and the JSON provenance of FITS/VOTable files becomes ``meta``.

    Parameters
    ----------
    filename : str or path-like
        An ECSV, FITS or VOTable catalog.
    format : {'ascii.ecsv', 'fits', 'votable'}, optional
        Input format; by default from the extension.

    Returns
    -------
    catalog : `~astropy.table.QTable`

    Examples
    --------
    See `write_catalog`.
    """
    fmt = _format_of(filename, format)
    if not Path(filename).exists():
        raise FileNotFoundError(f"no such catalog file: {str(filename)!r}")
    if fmt == "ascii.ecsv":
        return QTable.read(filename, format=fmt)
    if fmt == "votable":
        from astropy.io.votable import parse_single_table

        vot = parse_single_table(str(filename))
        table = QTable(vot.to_table(use_names_over_ids=True))
        table.meta.update({info.name: info.value for info in vot.infos})
    else:
        table = QTable.read(filename, format=fmt)
    for name in table.colnames:  # VOTable reads give masked columns even without masked values
        col = table[name]
        if getattr(col, "mask", None) is not None and not np.any(col.mask) and not isinstance(col, SkyCoord):
            table[name] = col.unmasked if hasattr(col, "unmasked") else col.filled()
    if "ra" in table.colnames and "dec" in table.colnames and "sky_centroid" not in table.colnames:
        index = table.colnames.index("ra")
        sky = SkyCoord(u.Quantity(table["ra"], u.deg), u.Quantity(table["dec"], u.deg), frame="icrs")
        table.remove_columns(["ra", "dec"])
        table.add_column(sky, name="sky_centroid", index=index)
    meta = table.meta
    raw = meta.get("AFMXMETA") or meta.get("afmxmeta")
    if raw:
        try:
            table.meta = json.loads(raw)
        except (TypeError, ValueError):
            logger.warning("could not decode the AFMXMETA provenance of %s", filename)
    return table
