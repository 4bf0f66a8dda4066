"""Build real conda packages (.conda and .tar.bz2) for tests."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conda_package_streaming.create import conda_builder


@dataclass
class Spec:
    name: str
    version: str = "1.0"
    build: str = "0"
    build_number: int = 0
    subdir: str = "noarch"
    depends: Sequence[str] = ()
    fmt: str = ".conda"
    files: Mapping[str, bytes] = field(default_factory=dict)
    about: Mapping[str, Any] = field(default_factory=dict)
    run_exports: Mapping[str, Any] | None = None
    index_overrides: Mapping[str, Any] = field(default_factory=dict)
    index_drop: Sequence[str] = ()

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}{self.fmt}"


def index_json(spec: Spec) -> dict[str, Any]:
    index: dict[str, Any] = {
        "name": spec.name,
        "version": spec.version,
        "build": spec.build,
        "build_number": spec.build_number,
        "subdir": spec.subdir,
        "depends": list(spec.depends),
        "license": "BSD-3-Clause",
        "timestamp": int(time.time() * 1000),
    }
    if spec.subdir == "noarch":
        index["noarch"] = "generic"
    index.update(spec.index_overrides)
    for key in spec.index_drop:
        index.pop(key, None)
    return index


def members(spec: Spec) -> list[tuple[str, bytes]]:
    files = dict(spec.files) or {f"share/{spec.name}/{spec.name}.txt": f"{spec.name} {spec.version}\n".encode()}
    paths = {
        "paths": [
            {"_path": p, "path_type": "hardlink", "sha256": hashlib.sha256(d).hexdigest(), "size_in_bytes": len(d)}
            for p, d in files.items()
        ],
        "paths_version": 1,
    }
    info: list[tuple[str, bytes]] = [
        ("info/index.json", json.dumps(index_json(spec)).encode()),
        ("info/paths.json", json.dumps(paths).encode()),
        ("info/about.json", json.dumps({"summary": f"{spec.name} for tests", **spec.about}).encode()),
    ]
    if spec.run_exports is not None:
        info.append(("info/run_exports.json", json.dumps(spec.run_exports).encode()))
    return info + sorted(files.items())


def build(spec: Spec, out: Path, member_list: list[tuple[str, bytes]] | None = None) -> Path:
    """Write the package into folder ``out`` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    items = members(spec) if member_list is None else member_list
    stem = spec.filename[: -len(spec.fmt)]
    if spec.fmt == ".conda":
        with conda_builder(stem, out, compression_level=3) as tar:
            for name, data in items:
                tar.addfile(_info(name, data), io.BytesIO(data))
    else:
        with tarfile.open(out / spec.filename, "w:bz2") as tar:
            for name, data in items:
                tar.addfile(_info(name, data), io.BytesIO(data))
    return out / spec.filename


def _info(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_700_000_000
    info.mode = 0o644
    return info


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
