"""`detect_survey`: `detect_sources` over many files with the batch engine (resumable, optionally on Dask)."""

import warnings

from ..survey import BatchResult, run_batch
from ._pipeline import _detect_image
from ._resolve import _resolve_detector

__all__ = ["detect_survey"]


_NO_EFFECT = ("progress_bar", "batch_size", "device")  # options that do not change the catalogs


def _detect_file(path, *, hdu=None, plane=None, **detect_options):
    """One file: the image of ``hdu``/``plane`` through `detect_sources`."""
    from ..io import load_image

    return _detect_image(load_image(path, hdu=hdu, plane=plane), **detect_options)


def detect_survey(inputs, output_dir, *, parallel=False, resume=True, output_format="ecsv", progress_bar=True,
                  time_limit=None, hdu=None, plane=None, **detect_options) -> BatchResult:
    """Detect sources in many images, one catalog per file plus a summary and a combined catalog.

    The detector is resolved once (``model=``/``backbone=`` as in
    `detect_sources`) and every input is run through `detect_sources` by the
    batch engine, which writes each catalog atomically as soon as it is done,
    so a rerun after a crash skips the finished files.

    Parameters
    ----------
    inputs : str, `~pathlib.Path` or list
        A glob pattern (``"survey/*.fits"``, ``**`` recurses; matches
        sorted), one file, or a list of files.
    output_dir : str or `~pathlib.Path`
        Where the per-file catalogs (``<stem>-<hash>.detect.<ext>``),
        ``detect_summary.ecsv`` and the combined catalog
        ``detect_combined.<ext>`` are written.
    parallel : bool, int, 'current-scheduler' or ``distributed.Client``, optional
        False runs serially; an int starts a local Dask cluster of that many
        worker processes; 'current-scheduler' uses the active Dask
        scheduler; a Client uses that cluster. The detector is sent to the
        workers once; they run it on the CPU unless ``device`` is given.
    resume : bool, optional
        Skip files whose catalog is already in ``output_dir``. The options
        that change the catalogs (all but ``batch_size`` and ``device``),
        ``hdu``, ``plane`` and the detector's identity (its config and a sha1
        of its weights) are recorded in ``detect_settings.json``: when they
        differ from those of the catalogs already there, the run stops with
        an error naming the changes. Pass ``resume=False`` to recompute
        them, or use another ``output_dir``.
    output_format : {'ecsv', 'fits', 'parquet'}, optional
        Format of the per-file and combined catalogs.
    progress_bar : bool, optional
        Show a progress bar over the files (the per-file bars are off).
    time_limit : float, optional
        Seconds allowed per file; a file still running then is stopped and
        reported as failed (``TimeoutError`` in the summary).
    hdu : int, str or tuple, optional
        The HDU of every file to read (see `~astrofmx.io.load_image`), e.g.
        ``'SCI'`` for SCI+ERR files.
    plane : int or tuple of int, optional
        The 2-D plane of cubes (see `~astrofmx.io.load_image`).
    **detect_options
        Keyword arguments of `detect_sources` (``model``, ``backbone``,
        ``tile_size``, ``score_threshold``, ``device``, ...).

    Returns
    -------
    result : `~astrofmx.survey.BatchResult`
        ``catalog`` is the combined catalog (an ``input`` column first) and
        ``summary`` lists each file's status; a file that fails is reported
        there and does not stop the batch.

    Raises
    ------
    ValueError
        A glob that matches no file, or bad detection options.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from astrofmx.datasets import simulate_radio_field
    >>> from astrofmx.detection import detect_survey
    >>> folder = Path(tempfile.mkdtemp())
    >>> for seed in (1, 2):
    ...     field = simulate_radio_field((192, 192), seed=seed)
    ...     fits.writeto(folder / f"field{seed}.fits", field.data, field.header)
    >>> result = detect_survey(str(folder / "field*.fits"), folder / "out", progress_bar=False)
    >>> [str(s) for s in result.summary["status"]]
    ['done', 'done']
    >>> result.catalog.colnames[0]
    'input'
    """
    model = _resolve_detector(detect_options.pop("model", None), detect_options.pop("backbone", None),
                              detect_options.get("device"))
    if parallel is not False and parallel is not None:
        # shipped to the workers; they run on the CPU by default
        model.to("cpu" if detect_options.get("device") is None else detect_options["device"])
    kwargs = dict(detect_options, model=model, progress_bar=False)
    settings = {k: v for k, v in kwargs.items() if k not in _NO_EFFECT}
    func = _detect_image
    if hdu is not None or plane is not None:
        func = _detect_file
        kwargs.update(hdu=hdu, plane=plane)
        settings.update(hdu=hdu, plane=plane)
    with warnings.catch_warnings():
        # the model is sent to the cluster once, as one task: dask's "large graph" advice does not apply
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        result = run_batch(func, inputs, output_dir=output_dir, parallel=parallel, resume=resume,
                           output_format=output_format, func_kwargs=kwargs, name="detect",
                           progress_bar=progress_bar, settings=settings, time_limit=time_limit)
    return result
