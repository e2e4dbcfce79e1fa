"""Smoke test of bench_real's reading and scoring (no finder is run; a few seconds).

Run with ``python -m pytest benchmarks/test_bench_real.py -c setup.cfg --rootdir=.`` from the
repository root; it skips where ``../shared/data`` does not exist.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_real  # noqa: E402

pytestmark = pytest.mark.skipif(not bench_real.DATA.is_dir(),
                                reason=f"real-data folder {bench_real.DATA} not present (a fresh clone)")

EXPECTED = {"parkes": (51, "864.00 arcsec"), "parkes_ait": (51, "864.00 arcsec"),
            "pybdsf_srl": (43, "54.00 arcsec"), "pybdsf_gaul": (48, "54.00 arcsec"), "sep": (65, "3.20 pix")}


@pytest.mark.parametrize("case", bench_real.CASES, ids=lambda c: c.key)
def test_reference_is_read_inside_its_image(case):
    import astropy.units as u

    wcs, header = bench_real.image_geometry(bench_real.DATA / case.image)
    ref = bench_real.read_reference(case, wcs)
    radius, _ = bench_real.matching_radius(case, wcs, header)
    assert (len(ref), f"{radius:.2f}") == EXPECTED[case.key]
    x, y = u.Quantity(ref["x_centroid"]).value, u.Quantity(ref["y_centroid"]).value
    ny, nx = header["NAXIS2"], header["NAXIS1"]
    assert np.all((x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5))


def test_sextractor_pixels_become_zero_based():
    case = next(c for c in bench_real.CASES if c.key == "sep")
    ref = bench_real.read_reference(case, None)
    # image.cat's first object has X_IMAGE 165.1449, Y_IMAGE 24.0084 (1-based)
    assert ref["x_centroid"][0].value == pytest.approx(164.1449)
    assert ref["y_centroid"][0].value == pytest.approx(23.0084)


@pytest.mark.parametrize("key", ["parkes", "sep"])
def test_reference_against_itself(key):
    case = next(c for c in bench_real.CASES if c.key == key)
    wcs, header = bench_real.image_geometry(bench_real.DATA / case.image)
    ref = bench_real.read_reference(case, wcs)
    radius, _ = bench_real.matching_radius(case, wcs, header)
    cat = ref.copy()
    if "flux" not in cat.colnames:
        cat["flux"] = cat["int_flux"]
    scale = 240.0 if key == "parkes" else None  # 0.0667 deg pixels
    row = bench_real.score(cat, ref, radius, pixel_scale_arcsec=scale, ref_flux_unit=case.ref_flux_unit)
    assert (row["n_matched"], row["f1"], row["offset_pix"], row["flux_ratio"]) == (len(ref), 1.0, 0.0, 1.0)
    half = bench_real.score(cat[: len(cat) // 2], ref, radius, pixel_scale_arcsec=scale)
    assert half["purity"] == 1.0 and half["completeness"] == pytest.approx((len(ref) // 2) / len(ref))
    nothing = bench_real.score(cat[:0], ref, radius)
    assert (nothing["n"], nothing["f1"], np.isnan(nothing["offset_pix"])) == (0, 0.0, True)
