"""`expand_inputs`: the one glob expansion of astrofmx."""

import os
import re
from pathlib import Path

import numpy as np
import pytest

from astrofmx.survey import expand_inputs


@pytest.fixture
def folder(tmp_path):
    for name in ("b.fits", "a.fits", "c.txt", "sub/d.fits", "odd[1].fits"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
    return tmp_path


def test_glob_becomes_sorted_matches(folder):
    assert expand_inputs(os.fspath(folder / "?.fits")) == [os.fspath(folder / n) for n in ("a.fits", "b.fits")]
    assert expand_inputs(folder / "?.fits") == expand_inputs(os.fspath(folder / "?.fits"))  # a Path pattern
    recursive = expand_inputs(os.fspath(folder / "**" / "d.fits"))
    assert recursive == [os.fspath(folder / "sub" / "d.fits")]
    assert expand_inputs(os.fspath(folder / "*")) == sorted(
        os.fspath(folder / n) for n in ("a.fits", "b.fits", "c.txt", "odd[1].fits"))  # files only


def test_existing_file_and_plain_paths_are_kept(folder):
    odd = folder / "odd[1].fits"  # glob characters, but an existing file: kept as given
    assert expand_inputs(odd) == [odd]
    missing = folder / "missing.fits"  # no glob characters: kept, reported by whoever opens it
    assert expand_inputs(missing) == [missing]


def test_list_is_expanded_item_by_item(folder):
    array = np.zeros(3)
    out = expand_inputs([folder / "c.txt", os.fspath(folder / "?.fits"), array])
    assert out[0] == folder / "c.txt" and out[1:3] == [os.fspath(folder / "a.fits"), os.fspath(folder / "b.fits")]
    assert out[3] is array and len(out) == 4
    assert expand_inputs(iter([folder / "a.fits"])) == [folder / "a.fits"]
    assert expand_inputs([]) == []


def test_no_match_and_bad_types(folder):
    pattern = os.fspath(folder / "*.png")
    with pytest.raises(ValueError, match=re.escape(f"the glob pattern {pattern!r} matches no files")):
        expand_inputs(pattern)
    with pytest.raises(ValueError, match="nothing"):
        expand_inputs([folder / "a.fits", Path(folder / "nothing*")])
    for bad in (42, b"a.fits", np.zeros(3)):
        with pytest.raises(TypeError, match="inputs must be a path, a glob pattern or a list of them"):
            expand_inputs(bad)
