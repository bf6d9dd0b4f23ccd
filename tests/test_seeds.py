"""Seed streams, batch order and augmentation draws follow the seed scheme (docs/seeds.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fairens.data import AugmentSpec, Split, augment_batch, batch_loader
from fairens.data.augment import uniform_draws
from fairens.ensemble import member_seeds
from fairens.errors import FairensError


def test_each_varied_source_has_its_own_stream_per_member() -> None:
    seeds = [member_seeds(0, ["init", "batch_order", "augmentation"], i) for i in range(4)]
    for source in ("init", "batch_order", "augmentation"):
        assert len({getattr(s, source) for s in seeds}) == 4
    first = seeds[0]
    assert len({first.init, first.batch_order, first.augmentation}) == 3


def test_a_source_not_varied_takes_member_zeros_seed() -> None:
    everything = [member_seeds(7, ["init", "batch_order", "augmentation"], i) for i in range(3)]
    only_order = [member_seeds(7, ["batch_order"], i) for i in range(3)]
    for i, seeds in enumerate(only_order):
        assert seeds.init == everything[0].init
        assert seeds.augmentation == everything[0].augmentation
        assert seeds.batch_order == everything[i].batch_order
    assert len({s.shared for s in everything}) == 1


def test_stream_ids_are_fixed() -> None:
    """Existing runs keep their seeds: each stream has a fixed id, not a position."""
    from fairens.ensemble.seeds import STREAM_IDS
    assert STREAM_IDS == {"init": 0, "batch_order": 1, "augmentation": 2, "shared": 3}
    everything = ["init", "batch_order", "augmentation"]
    assert member_seeds(0, everything, 0).as_dict() | {"shared": 0} == {
        "init": 4088532484, "batch_order": 3953331965, "augmentation": 1961512366, "shared": 0}
    nine = member_seeds(0, everything, 9)
    assert (nine.init, nine.batch_order, nine.augmentation) == (1851305387, 1618404790,
                                                                 377567682)


def test_seed_zero_is_a_seed() -> None:
    assert member_seeds(0, [], 0) != member_seeds(1, [], 0)
    assert member_seeds(0, [], 0) == member_seeds(0, [], 5)


def test_unknown_source_is_refused() -> None:
    with pytest.raises(FairensError) as error:
        member_seeds(0, ["init", "dropout"], 0)
    assert str(error.value) == ("ensemble.vary=['init', 'dropout'] is not allowed: a subset of "
                                "['init', 'batch_order', 'augmentation'] (unknown: dropout)")


def _split(n: int, size: int = 6) -> Split:
    images = torch.arange(n * size * size, dtype=torch.int64).reshape(n, 1, size, size) % 251
    return Split(images.to(torch.uint8), torch.zeros(n, dtype=torch.int64),
                 torch.arange(100, 100 + n, dtype=torch.int64))


def _order(loader, epoch: int) -> list[int]:
    loader.sampler.set_epoch(epoch)
    return torch.cat([ids for _, _, ids in loader]).tolist()


def test_batch_order_is_a_function_of_seed_and_epoch() -> None:
    split = _split(50)
    loader = batch_loader(split, 8, shuffle_seed=3)
    epoch0, epoch1 = _order(loader, 0), _order(loader, 1)
    assert sorted(epoch0) == list(range(100, 150)) and epoch0 != epoch1
    assert _order(batch_loader(split, 8, shuffle_seed=3), 1) == epoch1  # as after a resume
    assert _order(batch_loader(split, 8, shuffle_seed=4), 0) != epoch0
    assert _order(batch_loader(split, 8), 0) == list(range(100, 150))


def test_drop_last_drops_only_a_short_final_batch() -> None:
    assert len(list(batch_loader(_split(50), 8, shuffle_seed=0, drop_last=True))) == 6
    assert len(list(batch_loader(_split(5), 8, shuffle_seed=0, drop_last=True))) == 1


def test_augmentation_of_a_sample_does_not_depend_on_its_batch() -> None:
    split = _split(40)
    spec = AugmentSpec(pad=2, flip=True)
    whole = augment_batch(split.images, split.sample_ids, seed=9, epoch=2, spec=spec)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    for chunk in order.split(7):
        part = augment_batch(split.images[chunk], split.sample_ids[chunk], seed=9, epoch=2,
                             spec=spec)
        assert torch.equal(part, whole[chunk])
    assert not torch.equal(whole, augment_batch(split.images, split.sample_ids, seed=9,
                                                epoch=3, spec=spec))
    assert not torch.equal(whole, augment_batch(split.images, split.sample_ids, seed=8,
                                                epoch=2, spec=spec))


def test_translation_shifts_content_and_pads_with_zeros() -> None:
    image = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    image[0, 0, 2, 2] = 255
    ids = torch.arange(200)
    shifted = augment_batch(image.expand(200, -1, -1, -1), ids, seed=0, epoch=0,
                            spec=AugmentSpec(pad=1))
    positions = {tuple(torch.nonzero(s[0]).flatten().tolist()) for s in shifted}
    assert positions == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    assert (shifted.flatten(1).sum(dim=1) == 255).all()


def test_flip_mirrors_about_half_the_samples() -> None:
    images = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4).expand(1000, -1, -1, -1)
    out = augment_batch(images, torch.arange(1000), seed=1, epoch=0, spec=AugmentSpec(flip=True))
    flipped = (out == images.flip(-1)).flatten(1).all(dim=1)
    assert ((out == images).flatten(1).all(dim=1) | flipped).all()
    assert 400 < int(flipped.sum()) < 600


def test_uniform_draws_are_uniform_and_keyed() -> None:
    draws = uniform_draws(5, 0, np.arange(20000), 3)
    assert draws.shape == (20000, 3) and ((draws >= 0) & (draws < 1)).all()
    assert abs(draws.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(uniform_draws(5, 0, np.array([7, 3]), 3), draws[[7, 3]])
