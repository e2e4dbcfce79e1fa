"""What setup.cfg declares against what the code imports, the oldest-dependencies constraints, and the
messages for optional packages that are missing."""

import ast
import configparser
import importlib.util
import pathlib
import runpy

import numpy as np
import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkout(request):
    """The source checkout (setup.cfg, .ci/): pytest's rootdir, or the package's parent in an editable install."""
    for root in (pathlib.Path(request.config.rootpath), PACKAGE.parent):
        if (root / "setup.cfg").is_file() and (root / ".ci" / "lower_bounds.py").is_file():
            return root
    pytest.skip("no source checkout (setup.cfg, .ci/) next to the installed package")


def _imported_top_modules():
    names = set()
    for path in PACKAGE.rglob("*.py"):
        if "tests" in path.parts or path.name == "conftest.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_oldest_constraints_follow_setup_cfg(checkout):
    """.ci/oldest-constraints.txt (tox -e oldest) pins exactly setup.cfg's >= bounds, torch/torchvision fixed."""
    gen = runpy.run_path(str(checkout / ".ci" / "lower_bounds.py"))
    pins = gen["lower_bounds"](checkout / "setup.cfg")
    assert (checkout / ".ci" / "oldest-constraints.txt").read_text() == gen["render"](pins), \
        "run python .ci/lower_bounds.py after changing setup.cfg"
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["photutils"] == "3.0" and all(v[0].isdigit() for v in pins.values())
    tox = configparser.ConfigParser()
    tox.read(checkout / "tox.ini")
    assert "oldest-constraints.txt" in tox["testenv:oldest"]["setenv"]


def test_declared_dependencies_are_the_imported_ones(checkout):
    """scikit-image is required although astrofmx never imports it (photutils' deblending runs its watershed,
    an optional dependency of photutils); umap-learn, pycocotools and pandas/pyarrow live in extras ([viz],
    [coco], [parquet]) and are also installed by [test]."""
    cfg = configparser.ConfigParser()
    cfg.read(checkout / "setup.cfg")
    core = {line.split(">=")[0].strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()
            and not line.strip().startswith("#")}
    extras = {k: v for k, v in cfg["options.extras_require"].items()}
    imported = _imported_top_modules()
    assert "skimage" not in imported and "scikit-image" in core
    deblend = importlib.util.find_spec("photutils.segmentation.deblend").origin
    assert "skimage" in pathlib.Path(deblend).read_text()
    for package, module, extra in (("umap-learn", "umap", "viz"), ("pycocotools", "pycocotools", "coco"),
                                   ("pyarrow", "pyarrow", "parquet"), ("pandas", None, "parquet")):
        assert package not in core and package in extras[extra] and package in extras["test"], package
        assert module is None or module in imported
    for module in ("numpy", "scipy", "astropy", "photutils", "regions", "torch", "torchvision", "timm", "tqdm",
                   "matplotlib", "safetensors", "pooch", "sklearn"):
        assert module in imported


@pytest.fixture
def without(monkeypatch):
    """Make ``find_spec`` report the given top-level modules as not installed."""
    real = importlib.util.find_spec

    def hide(*names):
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a, **k: None if name.split(".")[0] in names else real(name, *a, **k))
    return hide


def test_missing_optional_packages_are_named_with_pip(without, tmp_path):
    """Without umap-learn, pycocotools or pandas the calls that need them stop at once with the pip command."""
    from astrofmx.classification import embed_umap
    from astrofmx.detection import mean_average_precision, train_detector
    from astrofmx.survey import run_batch

    without("umap", "pycocotools", "pandas")
    with pytest.raises(ImportError, match=r"embed_umap needs umap-learn: pip install umap-learn"):
        embed_umap(np.zeros((10, 4)))
    with pytest.raises(ImportError, match=r"needs pycocotools .*: pip install pycocotools"):
        mean_average_precision([{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)}], [{"boxes": np.zeros((0, 4))}])
    with pytest.raises(ImportError, match=r"train_detector with validation .* pip install pycocotools"):
        train_detector(np.zeros((64, 64)), np.zeros((0, 4)), val_fraction=0.5, progress_bar=False)
    with pytest.raises(ImportError, match=r"output_format='parquet' needs pandas .*astrofmx\[parquet\]"):
        run_batch(len, [str(tmp_path / "x.fits")], output_dir=tmp_path / "o", output_format="parquet")
