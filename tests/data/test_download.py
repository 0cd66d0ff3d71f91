"""`make data`: checksum verification and the offline fail-fast (no network needed)."""

from __future__ import annotations

import hashlib
import time

import pytest

from tod_lab.data import download as dl
from tod_lab.errors import DataError


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror with two files; checksums recorded for both."""
    src = tmp_path / "mirror"
    src.mkdir()
    (src / "a.json").write_text('[{"service_name": "A"}]')
    (src / "b.json").write_text("[]")
    sums = {
        "x/a.json": hashlib.sha256((src / "a.json").read_bytes()).hexdigest(),
        "x/b.json": hashlib.sha256(b"[]").hexdigest(),
    }
    monkeypatch.setattr(dl, "load_checksums", lambda: sums)
    files = [dl.RemoteFile(f"file://{src}/a.json", "x/a.json"),
             dl.RemoteFile(f"file://{src}/b.json", "x/b.json")]
    return src, files


def test_download_verifies_checksums_and_skips_present_files(tmp_path, mirror):
    src, files = mirror
    dest = tmp_path / "dest"
    assert dl.download(dest, files=files)["verified"] == 2
    assert (dest / "x/a.json").read_bytes() == (src / "a.json").read_bytes()
    assert dl.download(dest, files=files)["present"] == 2


def test_corrupted_download_is_rejected_and_not_written(tmp_path, mirror):
    src, files = mirror
    (src / "b.json").write_text("[1]")
    with pytest.raises(DataError, match="checksum mismatch"):
        dl.download(tmp_path / "dest", files=files)
    assert not (tmp_path / "dest/x/b.json").exists()


def test_offline_fails_fast_with_instructions(tmp_path):
    files = [dl.RemoteFile("http://127.0.0.1:9/sgd/train/schema.json", "sgd/train/schema.json")]
    started = time.perf_counter()
    with pytest.raises(DataError, match="data.root="):
        dl.download(tmp_path, files=files)
    assert time.perf_counter() - started < 10


def test_recorded_checksums_match_the_shared_copy(shared_data):
    """checksums.json was computed from the official files; the shared copy agrees."""
    sums = dl.load_checksums()
    path = shared_data / "sgd" / "dev" / "dialogues_001.json.gz"
    assert dl.sha256_of_content(path) == sums["sgd/dev/dialogues_001.json"]
    assert len(sums) >= 160
