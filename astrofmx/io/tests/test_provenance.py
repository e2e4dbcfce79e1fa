"""Column descriptions, pixel units and provenance in every table astrofmx writes, read back from the files."""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import QTable

from astrofmx.io import COLUMN_DESCRIPTIONS, annotate_table, make_source_catalog, read_catalog, write_catalog


@pytest.mark.parametrize("suffix", [".ecsv", ".fits", ".vot"])
def test_written_catalog_carries_descriptions_and_provenance(tmp_path, suffix):
    cat = make_source_catalog([[10, 20, 14, 26], [30, 30, 35, 36]], scores=[0.9, 0.6])
    cat.meta["backbone"] = "timm:resnet18"
    cat.meta["model"] = str(pytest.importorskip("astrofmx.detection").DEFAULT_DETECTOR_PATH)
    path = tmp_path / f"sources{suffix}"
    write_catalog(cat, path, image="/some/where/deep/field_07.fits")
    back = read_catalog(path)
    assert back.meta["image"] == "field_07.fits"  # the name, not the folder
    assert back.meta["model"] == "astrofmx/data/models/default"  # no absolute site-packages path
    assert back.meta["backbone"] == "timm:resnet18" and back.meta["version"]["astrofmx"]
    assert "date" in back.meta
    if suffix == ".ecsv":  # FITS and VOTable keep descriptions as column comments only in ECSV here
        for name in ("x_centroid", "bbox_xmin", "score"):
            assert back[name].info.description == COLUMN_DESCRIPTIONS[name]
    assert back["x_centroid"].unit == u.pix
    assert not cat["score"].info.description  # the input is not changed


def test_annotate_gives_pixel_columns_units_and_keeps_own_descriptions():
    table = QTable({"x0": np.array([0, 48]), "width": np.array([64, 64]), "x_centroid": [1.5, 2.5] * u.pix,
                    "score": [0.1, 0.2]})
    table["score"].info.description = "my own"
    out = annotate_table(table, image="tiles_of.fits", tile_size=64)
    assert out["x0"].unit == u.pix and out["x0"].dtype.kind == "i" and out["width"].unit == u.pix
    assert out["score"].info.description == "my own"
    assert out["x0"].info.description == COLUMN_DESCRIPTIONS["x0"]
    assert out.meta["tile_size"] == 64 and out.meta["image"] == "tiles_of.fits"
    assert table["x0"].unit is None  # the input is not changed
    assert annotate_table(table, pixel_units=False)["x0"].unit is None
