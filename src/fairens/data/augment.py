"""Batch augmentation whose every draw is a function of (seed, epoch, sample id).

Because each sample's draw depends only on its own id, changing the batch order (another
seed stream) never changes what augmentation a sample receives, as the seed scheme requires
(docs/seeds.md).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .base import AugmentSpec

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MAX_DRAWS = 256  # draws per sample and epoch; sample i owns stream indices [256 i, 256 i + 256)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 output function (Steele et al. 2014), a bijective mixer on uint64."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform_draws(seed: int, epoch: int, sample_ids: np.ndarray, n_draws: int) -> np.ndarray:
    """Uniform numbers in [0, 1), float64 [len(sample_ids), n_draws].

    Entry (i, j) is a pure function of (seed, epoch, sample_ids[i], j): the j-th output of a
    SplitMix64 stream keyed by ``SeedSequence([seed, epoch])`` at position
    ``256 * sample_id + j``. A counter-based stream rather than one seeded generator per
    sample, so a whole batch is drawn in one vectorised expression.
    """
    if n_draws > _MAX_DRAWS:
        raise ValueError(f"at most {_MAX_DRAWS} draws per sample, asked for {n_draws}")
    key = np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0]
    ids = np.asarray(sample_ids, dtype=np.uint64)
    with np.errstate(over="ignore"):
        position = ids[:, None] * np.uint64(_MAX_DRAWS) + np.arange(n_draws, dtype=np.uint64)
        bits = _splitmix64(key + position * _GOLDEN) >> np.uint64(11)
    return bits * (1.0 / (1 << 53))


def augment_batch(images: torch.Tensor, sample_ids: torch.Tensor, *, seed: int, epoch: int,
                  spec: AugmentSpec) -> torch.Tensor:
    """Randomly translate (crop of the zero-padded image) and flip a batch.

    Args:
        images: [B, C, H, W], any dtype, on any device.
        sample_ids: int64 [B], the dataset ids of the samples.
        seed: the member's augmentation seed.
        epoch: the current epoch.
        spec: what the dataset allows.
    """
    if spec.pad == 0 and not spec.flip:
        return images
    draws = torch.from_numpy(uniform_draws(seed, epoch, sample_ids.cpu().numpy(), 3))
    draws = draws.to(images.device)
    batch, _, height, width = images.shape
    if spec.pad:
        shifts = (draws[:, :2] * (2 * spec.pad + 1)).long()  # offsets 0..2*pad in y and x
        padded = F.pad(images, (spec.pad,) * 4)
        rows = (shifts[:, 0, None] + torch.arange(height, device=images.device))[:, None, :, None]
        cols = (shifts[:, 1, None] + torch.arange(width, device=images.device))[:, None, None, :]
        images = padded[torch.arange(batch, device=images.device)[:, None, None, None],
                        torch.arange(images.shape[1], device=images.device)[None, :, None, None],
                        rows, cols]
    if spec.flip:
        flip = (draws[:, 2] < 0.5)[:, None, None, None]
        images = torch.where(flip, images.flip(-1), images)
    return images
