"""The default source detector that ships inside the package (works offline)."""

import functools
import json
import logging
import threading
from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_DETECTOR_PATH", "get_default_detector", "get_default_detector_metadata"]

logger = logging.getLogger(__name__)

#: Directory of the embedded default detector (``config.json``, ``model.safetensors``
#: and ``metadata.json``: the training command, data and final metrics). It was
#: trained from scratch on simulated radio and optical/IR fields by
#: ``scripts/train_default_detector.py``.
DEFAULT_DETECTOR_PATH = Path(str(resources.files("astrofmx") / "data" / "models" / "default"))

_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _load_default():
    from ..utils import WeightsNotFoundError
    from ._io import load_detector

    if not (DEFAULT_DETECTOR_PATH / "model.safetensors").is_file():  # pragma: no cover - broken installation
        raise WeightsNotFoundError(f"the embedded default detector is missing from {str(DEFAULT_DETECTOR_PATH)!r}; "
                                   "reinstall astrofmx, or pass model=<path of a saved detector>")
    return load_detector(DEFAULT_DETECTOR_PATH, device="cpu")


def get_default_detector(*, device=None):
    """The embedded default source detector, for radio and optical/IR images (loaded once, then cached).

    A compact Faster R-CNN (a one-block-per-stage, half-width ResNet-18 with a
    64-channel feature pyramid, about 2.3 million parameters stored in fp16)
    trained from scratch on simulated radio continuum fields and optical/IR
    fields (`~astrofmx.datasets.random_radio_field`,
    `~astrofmx.datasets.random_optical_field`) with beams/PSFs of 2 to 7
    pixels FWHM, elongated beams, many noise levels, source densities and
    imaging artefacts. Images are normalized with the ``'radio-local'``
    preset (signal-to-noise against a local background and noise), so the
    absolute flux scale does not matter. It is what
    `~astrofmx.detection.detect_sources` uses when neither ``model`` nor
    ``backbone`` is given; that function resamples an image whose beam/PSF
    lies outside the configuration's ``beam_range`` (2.5-6 px) into it. How
    it was trained is in `get_default_detector_metadata`.

    Parameters
    ----------
    device : None, str or `torch.device`, optional
        Where to put the detector (default: CPU).

    Returns
    -------
    detector : `FasterRCNNDetector`
        In eval mode; ``detector.source`` is `DEFAULT_DETECTOR_PATH`. The
        cached CPU instance is shared: copy it before training it further.

    Examples
    --------
    >>> from astrofmx.detection import get_default_detector
    >>> det = get_default_detector()
    >>> det.config.normalizer, det.config.tile_size
    ('radio-local', 128)
    """
    with _LOCK:
        det = _load_default()
    if device is not None:
        from ..utils import resolve_device

        dev = resolve_device(device)
        if dev.type != "cpu":
            from ._io import load_detector

            return load_detector(DEFAULT_DETECTOR_PATH, device=dev)
    return det


def get_default_detector_metadata():
    """How the default detector was made: training command, data settings and final metrics.

    Returns
    -------
    metadata : dict
        The content of ``metadata.json`` beside the weights (keys ``command``,
        ``data``, ``val_metrics``, ``history``, ``train_time_s``, ...).

    Examples
    --------
    >>> from astrofmx.detection import get_default_detector_metadata
    >>> get_default_detector_metadata()["command"].startswith("python scripts/train_default_detector.py")
    True
    """
    return json.loads((DEFAULT_DETECTOR_PATH / "metadata.json").read_text())
