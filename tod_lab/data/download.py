"""``make data``: download SGD, SGD-X and MultiWOZ 2.2 from their official repositories.

Files are fetched one by one from the official GitHub repositories (raw URLs), with a rich
progress bar, written atomically, and checked against ``checksums.json`` — the SHA-256 of
the (uncompressed) official files as published. A file without a recorded checksum is
reported as unverified rather than silently trusted. Offline, the first connection fails
within seconds and the error says how to point ``data.root`` at a local copy instead.

Layout written under ``--dest`` (default ``./data``, which is ``paths.data_root``):
``sgd/{train,dev,test}/``, ``sgd_x/v1..v5/{split}/schema.json``,
``multiwoz22/{schema.json, dialog_acts.json, {split}/, db/}`` and mwzeval's
``multiwoz22/mwzeval/{goals.json, booked_domains.json, references.json}``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tod_lab.errors import DataError

SGD_BASE = "https://raw.githubusercontent.com/google-research-datasets/dstc8-schema-guided-dialogue/master"
MWOZ_BASE = "https://raw.githubusercontent.com/budzianowski/multiwoz/master"
MWZEVAL_BASE = "https://raw.githubusercontent.com/Tomiinek/MultiWOZ_Evaluation/master/mwzeval/data"
CHECKSUMS = Path(__file__).with_name("checksums.json")
SGD_FILES = {"train": 127, "dev": 20, "test": 34}
MWOZ_FILES = {"train": 17, "dev": 2, "test": 2}
MWOZ_DOMAINS = ("attraction", "bus", "hospital", "hotel", "police", "restaurant", "taxi", "train")


@dataclass(frozen=True)
class RemoteFile:
    url: str
    target: str  # relative to --dest


def manifest() -> list[RemoteFile]:
    files: list[RemoteFile] = []
    for split, count in SGD_FILES.items():
        files.append(RemoteFile(f"{SGD_BASE}/{split}/schema.json", f"sgd/{split}/schema.json"))
        for i in range(1, count + 1):
            name = f"dialogues_{i:03d}.json"
            files.append(RemoteFile(f"{SGD_BASE}/{split}/{name}", f"sgd/{split}/{name}"))
        for v in range(1, 6):
            files.append(
                RemoteFile(
                    f"{SGD_BASE}/sgd_x/data/v{v}/{split}/schema.json",
                    f"sgd_x/v{v}/{split}/schema.json",
                )
            )
    mw = f"{MWOZ_BASE}/data/MultiWOZ_2.2"
    files.append(RemoteFile(f"{mw}/schema.json", "multiwoz22/schema.json"))
    files.append(RemoteFile(f"{mw}/dialog_acts.json", "multiwoz22/dialog_acts.json"))
    for split, count in MWOZ_FILES.items():
        for i in range(1, count + 1):
            name = f"dialogues_{i:03d}.json"
            files.append(RemoteFile(f"{mw}/{split}/{name}", f"multiwoz22/{split}/{name}"))
    for domain in MWOZ_DOMAINS:
        files.append(RemoteFile(f"{MWOZ_BASE}/db/{domain}_db.json",
                                f"multiwoz22/db/{domain}_db.json"))
    for name, target in (("goals.json", "goals.json"), ("booked_domains.json",
                         "booked_domains.json"), ("references/mwz22.json", "references.json")):
        files.append(RemoteFile(f"{MWZEVAL_BASE}/{name}", f"multiwoz22/mwzeval/{target}"))
    return files


def sha256_of_content(path: Path) -> str:
    """SHA-256 of a file's content, uncompressed (so .json and .json.gz copies agree)."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return hashlib.sha256(data).hexdigest()


def load_checksums() -> dict[str, str]:
    return json.loads(CHECKSUMS.read_text()) if CHECKSUMS.is_file() else {}


def write_checksums(source: Path) -> dict[str, str]:
    """Record checksums from a trusted local copy (maintainers only)."""
    sums = load_checksums()
    for item in manifest():
        for candidate in (source / item.target, source / (item.target + ".gz")):
            if candidate.is_file():
                sums[item.target] = sha256_of_content(candidate)
    CHECKSUMS.write_text(json.dumps(dict(sorted(sums.items())), indent=1) + "\n")
    return sums


def check_online(url: str, timeout: float = 5.0) -> None:
    """Fail fast (seconds, not minutes) when the repositories cannot be reached."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise DataError(
            f"cannot reach {url.split('/')[2] if '//' in url else url} ({exc})",
            hint=(
                "this machine looks offline. Copy the corpora from elsewhere and point "
                "tod_lab at them instead: `data.root=/path/to/sgd` (or "
                "`export TOD_LAB_DATA=<directory holding sgd/, sgd_x/, multiwoz22/>`)"
            ),
        ) from exc


def download(dest: Path, *, files: list[RemoteFile] | None = None, timeout: float = 30.0,
             verify: bool = True) -> dict[str, int]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    files = files if files is not None else manifest()
    sums = load_checksums()
    check_online(files[0].url)
    counts = {"downloaded": 0, "present": 0, "verified": 0, "unverified": 0, "missing": 0}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn()) as progress:
        overall = progress.add_task("corpora", total=len(files))
        for item in files:
            target = dest / item.target
            expected = sums.get(item.target)
            if target.is_file() and (not expected or sha256_of_content(target) == expected):
                counts["present"] += 1
                progress.advance(overall)
                continue
            task = progress.add_task(item.target, total=None)
            try:
                with urllib.request.urlopen(item.url, timeout=timeout) as response:
                    total = response.headers.get("Content-Length")
                    progress.update(task, total=int(total) if total else None)
                    chunks = []
                    while chunk := response.read(1 << 16):
                        chunks.append(chunk)
                        progress.advance(task, len(chunk))
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # e.g. a split with fewer files than expected
                    counts["missing"] += 1
                    progress.remove_task(task)
                    progress.advance(overall)
                    continue
                raise DataError(f"download failed: {exc}", file=item.url) from exc
            except (urllib.error.URLError, OSError) as exc:
                raise DataError(f"download failed: {exc}", file=item.url) from exc
            data = b"".join(chunks)
            if verify and expected and hashlib.sha256(data).hexdigest() != expected:
                raise DataError(
                    "checksum mismatch: the download differs from the published file",
                    file=item.url,
                    hint="retry; if it persists, the upstream file changed — report it",
                )
            counts["verified" if expected else "unverified"] += 1
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            counts["downloaded"] += 1
            progress.remove_task(task)
            progress.advance(overall)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path("data"))
    parser.add_argument("--write-checksums", type=Path, metavar="TRUSTED_COPY",
                        help="maintainers: record checksums from a trusted local copy")
    args = parser.parse_args(argv)
    try:
        if args.write_checksums:
            print(f"{len(write_checksums(args.write_checksums))} checksums in {CHECKSUMS}")
            return 0
        counts = download(args.dest)
    except DataError as err:
        print(f"tod_lab error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
