"""Tiled inference over whole images: `detect_sources` (one image in, one catalog out)."""

import os
import warnings

from ._pipeline import _detect_image
from ._survey import detect_survey

__all__ = ["detect_sources"]


def _is_many(image):
    """True for a list, a tuple of paths, or a glob pattern (a string with * ? [ that is not a file)."""
    if isinstance(image, list):
        return True
    if isinstance(image, tuple):
        return len(image) > 0 and all(isinstance(p, (str, os.PathLike)) for p in image)
    return isinstance(image, str) and any(c in image for c in "*?[") and not os.path.exists(image)


# -- public ---------------------------------------------------------------------------------------------
def detect_sources(image, *, model=None, backbone=None, tile_size=None, overlap=None, score_threshold=None,
                   min_snr=None, nms_threshold=0.5, batch_size="auto", device=None, precision="auto", progress_bar=True,
                   beam="auto", kind="auto", output_dir=None, **survey_options):
    """Detect sources in a whole image with a trained Faster R-CNN detector.

    The image is normalized once as a whole (``detector.config.normalizer``),
    cut into overlapping tiles, each tile resampled by
    ``detector.config.upscale`` and run through the detector in batches. Boxes
    are mapped back to full-image pixels (the RPN proposal and detection
    budgets of the configuration, set per training tile, are scaled with the
    tile area for larger tiles); a detection is kept only by the tile
    whose centre is nearest to it (so sources cut by a tile border are taken
    from the tile that sees them whole), remaining duplicates across tile
    borders are removed with `torchvision.ops.batched_nms`, and detections
    centred on masked, NaN or blank pixels are dropped. Tiles with no valid
    pixel are skipped.

    The detector was trained on beams/PSFs of a range of sizes in pixels
    (``detector.config.beam_range``, 2.5-6 pixels FWHM for the default). An
    image whose beam (the geometric mean of its major and minor FWHM) lies
    outside that range has each of its tiles resampled so that the beam lands
    on the nearest edge of the range (bilinear, low-pass filtered when shrinking),
    with the tile size scaled to match; boxes, positions and sizes are mapped
    back exactly to the original pixels, sky positions come from the original
    WCS and peaks are measured on the original pixels. Images already in range
    are not resampled.

    Parameters
    ----------
    image : str, `~pathlib.Path`, HDU, `~astropy.nddata.NDData`, tuple, `~numpy.ndarray` or dask array
        One image: anything `~astrofmx.io.load_image` accepts (FITS files
        and dask arrays stay memory-mapped / lazy). For many files use
        `detect_survey`.
    model : `FasterRCNNDetector`, str or `~pathlib.Path`
        A detector, or the path of one saved with `save_detector`. With
        neither ``model`` nor ``backbone``: the embedded default detector
        (`get_default_detector`).
    backbone : str, optional
        Registry name of a backbone: the newest detector trained here for it
        (`train_detector` registers each one), else one registered with
        `register_detector` (a folder, or a model-zoo archive downloaded and
        checked on first use); without any, the error explains how to train
        or register one. With ``model`` it must match the detector's backbone.
    tile_size : int, optional
        Tile side in image pixels; default the configuration's
        ``inference_tile_size`` (else its training ``tile_size``).
    overlap : int, optional
        Overlap of neighbouring tiles in pixels; default the configuration's
        ``inference_overlap`` (scaled with the tile), else a quarter of the
        tile. It should exceed the largest source you expect.
    score_threshold : float, optional
        Minimum detection score kept. None (default) takes the detector
        configuration's ``score_threshold`` (for the embedded default
        detector, the calibrated score that maximizes F1 on validation
        fields), else 0.5. Scores are calibrated where the configuration
        has a ``score_calibration``: among detections of score close to s, a
        fraction close to s are real.
    min_snr : float, optional
        Minimum peak signal-to-noise ratio kept: the brightest pixel in each
        box over the local noise (column ``peak_snr``), as a classical
        catalog's detection threshold. None (default) takes the detector
        configuration's ``min_snr`` (5 for the embedded default detector,
        whose training targets are sources of peak S/N >= 5; none for a
        detector you train); 0 keeps every detection. On optical/IR images
        (``kind``), whose catalogs detect on surface brightness over an area
        as SExtractor does, a detection below it is also kept when its
        isophotal flux S/N (``flux / flux_err``) reaches 1.6 times it, so
        that an extended galaxy of low peak S/N is not lost (the threshold
        used is ``meta['min_flux_snr']``). On radio images the local noise
        of a detection near the threshold is the larger of the background
        mesh's and the 3-sigma-clipped rms of the 20 x 20 beams around it,
        as BANE and PyBDSF measure it, so that a peak on the sidelobes or
        deconvolution residuals around a bright source is judged against
        them (``meta['local_noise']``).
    nms_threshold : float, optional
        IoU above which the lower-scored of two overlapping boxes is removed.
    batch_size : int or 'auto', optional
        Tiles per forward pass. 'auto' (default): 8 on a CPU; on a GPU as
        many as fit in its free memory, measured with a probe batch
        (`astrofmx.utils.resolve_batch_size`).
    device : None, str or `torch.device`, optional
        None picks CUDA when available. On CPU, glibc's allocator is set to
        reuse freed memory for the network's activations
        (`~astrofmx.utils.tune_cpu_allocator`, once per process; 12% faster
        on 4096 x 4096; ``ASTROFMX_MALLOC_TUNING=0`` leaves it alone).
    precision : {'auto', 'fp32', 'bf16', 'fp16'}, optional
        Precision of the backbone and pyramid ('auto': bf16 autocast on CPUs
        and GPUs that support it); the detection heads run in fp32.
    progress_bar : bool, optional
        Show a progress bar over the tiles.
    beam : 'auto', `~astropy.units.Quantity`, `radio_beam.Beam` or None, optional
        The beam/PSF of the image. 'auto' (default): the restoring beam of
        the header (`~astrofmx.io.read_beam`: BMAJ/BMIN/BPA or AIPS history),
        else the PSF estimated from the image's bright compact sources
        (`~astrofmx.measure.estimate_psf`), else none. A Quantity is a FWHM,
        an angle (the image needs a celestial WCS) or pixels (``4 * u.pix``).
        None: no resampling. ``meta`` records ``beam``, ``beam_source``
        ('header', 'estimated', 'given' or 'none') and ``resample_factor``.
    kind : {'auto', 'radio', 'optical'}, optional
        The kind of image, which picks the default detector (today one model
        serves both). 'auto' decides from the header (BUNIT such as Jy/beam,
        a beam, a frequency axis, TELESCOP/INSTRUME, optical keywords such as
        FILTER or EXPTIME), else from the pixels (integers, or a sky
        background well above zero, say optical); ``meta["kind"]`` and ``meta["kind_reason"]``
        record the choice. The kind also picks the measured position
        (``meta["centroid"]``): an elliptical Gaussian fitted to the core of
        the source for radio images (``'gauss'``, what Gaussian-fitting radio
        finders such as Aegean and PyBDSF report), the windowed centroid
        of the footprint for optical/IR ones (SExtractor's ``XWIN_IMAGE``,
        photutils' ``centroid_win``); see `~astrofmx.measure.measure_sources`.
    output_dir : str or `~pathlib.Path`, optional
        Deprecated: with a list of files, a tuple of paths or a glob pattern
        and ``output_dir`` (and ``parallel``, ``resume``, ``output_format``),
        `detect_survey` is called with a `DeprecationWarning` and its
        `~astrofmx.survey.BatchResult` returned. Call `detect_survey` instead.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        One row per source, columns of `~astrofmx.io.make_source_catalog`
        (``sky_centroid`` and the sizes in arcsec only when the image has a
        celestial WCS), sorted by decreasing score. ``meta`` records the
        model, backbone, weights, preprocessing, thresholds, date and package
        versions. With no detection: an empty table with every column and a
        `~astrofmx.utils.NoDetectionsWarning`.

    Raises
    ------
    ValueError
        Empty or all-NaN image, tiles smaller than a backbone patch, bad
        thresholds, an unknown ``kind``, a beam angle without a celestial
        WCS, a beam too small to upsample (x6 at most) or wider than the
        image, or no detector.
    TypeError
        If ``model`` is neither a detector nor a path, ``beam`` is of an
        unknown type, or ``image`` is a list (use `detect_survey`).

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.detection import build_detector, detect_sources
    >>> det = build_detector(backbone="resnet18", weights=None, tile_size=64, pyramid_channels=32,
    ...                      representation_size=64)
    >>> image = np.random.default_rng(0).normal(size=(96, 96)).astype("float32")
    >>> cat = detect_sources(image, model=det, score_threshold=0.0, progress_bar=False, precision="fp32")
    >>> cat.colnames[:3]
    ['id', 'x_centroid', 'y_centroid']

    A simulated interferometer field with a 1.2-pixel beam is resampled 2.1x for the default detector:

    >>> import astropy.units as u
    >>> from astrofmx.datasets import simulate_radio_field
    >>> field = simulate_radio_field((128, 128), seed=0, n_sources=10, beam_fwhm=1.8 * u.arcsec)
    >>> cat = detect_sources(field.to_nddata(), progress_bar=False)
    >>> cat.meta["kind"], cat.meta["kind_reason"], cat.meta["beam_source"], round(cat.meta["resample_factor"], 2)
    ('radio', 'BUNIT=JY/BEAM', 'header', 2.08)
    """
    options = dict(model=model, backbone=backbone, tile_size=tile_size, overlap=overlap,
                   score_threshold=score_threshold, min_snr=min_snr, nms_threshold=nms_threshold,
                   batch_size=batch_size, device=device, precision=precision, beam=beam, kind=kind)
    if _is_many(image):
        if output_dir is None:
            raise TypeError(f"detect_sources takes one image, got many ({image!r:.80}); use "
                            "astrofmx.detect_survey(inputs, output_dir) for many files")
        warnings.warn("detect_sources(many inputs, output_dir=...) is deprecated and will be removed in the next "
                      "release; use astrofmx.detect_survey(inputs, output_dir, ...)", DeprecationWarning,
                      stacklevel=2)
        return detect_survey(list(image) if isinstance(image, tuple) else image, output_dir,
                             progress_bar=progress_bar, **survey_options, **options)
    if survey_options:
        raise TypeError(f"detect_sources() got unexpected keyword arguments {sorted(survey_options)} (they are "
                        "options of detect_survey)")
    return _detect_image(image, progress_bar=progress_bar, **options)
