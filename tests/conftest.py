"""Fixtures shared by the test packages: an untrained digits model (state dict and ONNX), a private cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"onnx": model.onnx, "pt": model.pt} of an untrained (seeded) digits ResNet; top-1 near chance."""
    torch = pytest.importorskip("torch")
    from podium.workloads.classification import export_onnx
    from podium.models.digits import small_resnet

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("digits-model")
    model = small_resnet().eval()
    torch.save(model.state_dict(), d / "model.pt")
    export_onnx(model, torch.zeros(1, 1, 8, 8), d / "model.onnx")
    return {"onnx": d / "model.onnx", "pt": d / "model.pt", "dir": d}


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Preprocessing caches of these tests go to a temporary directory."""
    d = tmp_path / "cache"
    monkeypatch.setenv("PODIUM_CACHE_DIR", str(d))
    return d


def _mount_tmpfs(where: Path, options: str) -> None:
    """A real tmpfs at `where` (root only); skips the test where mounting is not allowed."""
    import subprocess

    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()[:120]}")


def _umount(where: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A real 256 KiB file system (tmpfs): writes past its size fail with ENOSPC, as on a full disk."""
    where = tmp_path / "small-disk"
    _mount_tmpfs(where, "size=256k,mode=0755")
    yield where
    _umount(where)


@pytest.fixture()
def readonly_dir(tmp_path: Path):
    """A real read-only file system (a tmpfs mounted ro): writes fail with EROFS even for root."""
    where = tmp_path / "read-only"
    _mount_tmpfs(where, "ro,size=64k")
    yield where
    _umount(where)
