"""detect_sources gives the same catalog whatever the image's units, and never hangs (issues 12, 16)."""


import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from astrofmx.io import FLT_MAX
from astrofmx.tests.helpers import finishes

#: a log-uniform factor between 1e-30 and 1e30
FACTORS = st.floats(-30.0, 30.0).map(lambda e: 10.0 ** e)


def _detect(image):
    import warnings

    from astrofmx.detection import detect_sources

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NoDetectionsWarning
        return detect_sources(image, progress_bar=False)


def _columns(cat):
    return {k: np.asarray(getattr(cat[k], "value", cat[k]), dtype=float)
            for k in ("x_centroid", "y_centroid", "score", "peak", "peak_snr", "flux")}


@pytest.fixture(scope="module")
def field():
    from astrofmx.datasets import simulate_radio_field

    return np.asarray(simulate_radio_field((128, 128), seed=3).data, dtype=np.float32)


@pytest.fixture(scope="module")
def reference(field):
    cat = _columns(_detect(field))
    assert len(cat["score"]) >= 3
    return cat


@settings(max_examples=4, deadline=None)
@given(c=FACTORS)
@example(c=1e-22)
@example(c=1e20)
@example(c=1e-30)
@example(c=1e30)
def test_detect_sources_is_scale_invariant(field, reference, c):
    got = _columns(_detect((field.astype(np.float64) * c).astype(np.float32)))
    assert len(got["score"]) == len(reference["score"]), f"factor {c:g}"
    for k in ("x_centroid", "y_centroid"):
        np.testing.assert_allclose(got[k], reference[k], atol=1e-3, err_msg=f"{k}, factor {c:g}")
    np.testing.assert_allclose(got["score"], reference["score"], atol=1e-5)
    np.testing.assert_allclose(got["peak"] / c, reference["peak"], rtol=1e-4)
    np.testing.assert_allclose(got["peak_snr"], reference["peak_snr"], rtol=1e-4)
    np.testing.assert_allclose(got["flux"] / c, reference["flux"], rtol=1e-4)


def test_detect_sources_int64_near_2_62(field):
    ints = np.round((field - field.min()) / (field.max() - field.min()) * 2**20).astype(np.int64)
    ref = _columns(_detect(ints))
    got = _columns(finishes(_detect, np.int64(2**62) + ints))
    assert len(got["score"]) == len(ref["score"]) >= 3
    np.testing.assert_allclose(got["x_centroid"], ref["x_centroid"], atol=1e-3)
    np.testing.assert_allclose(got["peak_snr"], ref["peak_snr"], rtol=1e-4)


@pytest.mark.parametrize("c", [1e40, 1e-60, 1e-250])
def test_detect_sources_float64_beyond_float32(field, reference, c):
    # past float32's range either way: 1e-60 would flush to zero in float32, 1e40 overflow
    got = _columns(finishes(_detect, field.astype(np.float64) * c))
    assert len(got["score"]) == len(reference["score"]), f"factor {c:g}"
    np.testing.assert_allclose(got["x_centroid"], reference["x_centroid"], atol=1e-3)
    np.testing.assert_allclose(got["peak"] / c, reference["peak"], rtol=1e-4)
    np.testing.assert_allclose(got["peak_snr"], reference["peak_snr"], rtol=1e-4)
    np.testing.assert_allclose(got["flux"] / c, reference["flux"], rtol=1e-4)


@pytest.mark.parametrize("image", ["constant", "near_flt_max"])
def test_detect_sources_finishes(image):
    data = np.full((128, 128), 3e38, np.float32)
    if image == "near_flt_max":
        data[40:60, 40:60] = 3.3e38
    finishes(_detect, data)


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_flt_max_blanks_detected_like_nan(field, fraction):
    with_nan, with_max = field.copy(), field.copy()
    with_nan[:, : int(fraction * field.shape[1])] = np.nan
    with_max[:, : int(fraction * field.shape[1])] = FLT_MAX
    got, ref = _columns(finishes(_detect, with_max)), _columns(_detect(with_nan))
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])
