import pytest


@pytest.fixture(autouse=True)
def _restore_backbone_registry():
    """Entries a test registers must not leak into later tests (e.g. the CLI's backbone table)."""
    from astrofmx.backbones import _registry

    _registry._ensure_builtins()
    saved = dict(_registry._REGISTRY)
    yield
    _registry._REGISTRY.clear()
    _registry._REGISTRY.update(saved)
