"""Decoding image files once, into uint8 tensors, with an on-disk cache of the result."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ..errors import FairensError, bad_file
from ..ownership import open_folder
from .base import check_memory

_CACHE_VERSION = 3  # 2: 16-bit images scaled to 8 bits; 3: JPEGs decoded at a reduced scale
MAX_PIXELS = 64_000_000  # an 8000x8000 photo; larger headers are refused before decoding
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fairens`` (``~/.cache/fairens``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fairens"


def _cache_folder(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir or default_cache_dir()).expanduser()


def decode_file(path: str | Path, *, size: int | None, crop: int | None = None) -> torch.Tensor:
    """One image file as uint8 RGB [3, H, W], centre-cropped to ``crop`` and resized to
    ``size`` x ``size`` (bilinear, antialiased) when given; a file that cannot be decoded is
    named in the error. Pillow decodes: torchvision.io's decoders are deprecated since 0.29."""
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise bad_file(path, f"image of {opened.width}x{opened.height} pixels: fairens "
                                     f"decodes images of at most {MAX_PIXELS:,} pixels")
            if size is not None and crop is None and opened.format == "JPEG":
                # decode at the smallest DCT scale still >= size (200x200 faces for a 64x64
                # run decode at 100x100): less work than a full decode, then the same resize
                # (benchmarks/data_pipeline.py --utkface measures it)
                opened.draft("RGB", (size, size))
            image = _to_rgb(opened, path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise bad_file(path, f"cannot read or decode this image ({exc})") from exc
    if crop is not None:
        left, top = (image.width - crop) // 2, (image.height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image, path: str | Path) -> Image.Image:
    """8-bit RGB. 16-bit grayscale (PNG's ``I;16``, or ``I`` holding 0..65535) is scaled to
    8 bits (v * 255 / 65535, rounded); Pillow's own conversion would clip it to {0, 255}."""
    if image.mode not in _SIXTEEN_BIT and image.mode != "F":
        return image.convert("RGB")
    values = np.asarray(image).astype(np.int64)
    if image.mode == "F" or values.min(initial=0) < 0 or values.max(initial=0) > 65535:
        raise bad_file(path, f"a {image.mode} image with values outside 0..65535: fairens "
                             "decodes 8- and 16-bit images")
    gray = np.rint(values * (255 / 65535)).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def decode_files(paths: Sequence[str | Path], *, size: int | None, crop: int | None = None,
                 desc: str = "decoding") -> torch.Tensor:
    """Every file decoded to uint8 [N, 3, size, size]; without ``size`` all images must
    share one size (else the error asks for ``data.image_size``)."""
    if size is not None:
        check_memory(len(paths), 3, size)
    images: list[torch.Tensor] = []
    for path in tqdm(paths, desc=desc, unit="img", mininterval=1.0,
                     disable=True if len(paths) < 2000 else None):  # None: off a terminal
        image = decode_file(path, size=size, crop=crop)
        if images and image.shape != images[0].shape:
            raise FairensError(
                f"{path}: image of {image.shape[2]}x{image.shape[1]} pixels where {paths[0]} "
                f"has {images[0].shape[2]}x{images[0].shape[1]}; set data.image_size to "
                "resize every image to one size")
        images.append(image)
    if not images:
        return torch.empty((0, 3, size or 1, size or 1), dtype=torch.uint8)
    return torch.stack(images)


def cache_key(paths: Sequence[str | Path], options: dict, cache_dir: str | Path | None,
              name: str, suffix: str) -> tuple[Path, Path]:
    """(the cache file of ``name`` for these files and options, the cache folder): the key is
    made of every file's path, size and modification time and the options, so any change to
    the files computes again."""
    digest = hashlib.sha256(json.dumps({"version": _CACHE_VERSION, **options}).encode())
    for path in map(str, paths):
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    folder = _cache_folder(cache_dir)
    return folder / f"{name}-{digest.hexdigest()[:24]}{suffix}", folder


def decode_cached(paths: Sequence[str | Path], *, size: int | None, crop: int | None = None,
                  cache_dir: str | Path | None, name: str) -> torch.Tensor:
    """:func:`decode_files`, cached in ``cache_dir`` (None: :func:`default_cache_dir`) under
    a key made of every file's path, size and modification time and the decoding options,
    so a second run skips decoding and any change to the files decodes again."""
    cache, folder = cache_key(paths, {"size": size, "crop": crop}, cache_dir, name, ".npy")
    if cache.is_file():
        try:
            return torch.from_numpy(np.load(cache, allow_pickle=False))
        except (OSError, ValueError):
            pass  # unreadable: decode again, and replace it if it is fairens's
    images = decode_files(paths, size=size, crop=crop, desc=f"decoding {name}")
    store_in_cache(cache, folder, lambda f: np.save(f, images.numpy(), allow_pickle=False))
    return images


_CACHE_FILE = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{24}\.(npy|json)$")


def _adopt_cache(folder: Path) -> dict[str, str]:
    """The cache files an earlier version of fairens left (named ``<name>-<key>.npy`` or
    ``<name>-<key>.json``); nothing else in the folder becomes fairens's."""
    return {p.name: "cache" for p in folder.iterdir()
            if _CACHE_FILE.match(p.name) and p.is_file() and not p.is_symlink()}


def store_in_cache(cache: Path, folder: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``cache`` with ``write`` in the cache folder, if fairens may write there."""
    try:
        owned = open_folder(folder, "cache", adopt=_adopt_cache)
        with owned.writing(cache.name, by="cache") as tmp, open(tmp, "wb") as f:
            write(f)
    except FairensError:
        pass  # a cache folder fairens cannot (or may not) write only costs time next run
