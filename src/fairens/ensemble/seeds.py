"""Independent seed streams per source of randomness and member (docs/seeds.md).

For member ``i`` and source ``s`` the seed comes from ``SeedSequence(base_seed,
spawn_key=(STREAM_IDS[s], i))`` when ``s`` is varied and ``spawn_key=(STREAM_IDS[s], 0)``
when it is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import bad_setting

SOURCES = ("init", "batch_order", "augmentation")
# Each stream's fixed id. Never change or reuse one: it would change the seeds of every
# existing run. A new source takes the next unused id. "shared" is the randomness outside
# the sources (dropout, stochastic depth), the same for every member, so that vary=[]
# still gives identical members.
STREAM_IDS = {"init": 0, "batch_order": 1, "augmentation": 2, "shared": 3}


@dataclass(frozen=True)
class MemberSeeds:
    """The seeds of one member: each drives only its own source."""

    init: int
    batch_order: int
    augmentation: int
    shared: int

    def describe(self) -> str:
        """``seeds(init=…, batch_order=…, augmentation=…)`` for progress lines."""
        return "seeds(" + ", ".join(f"{s}={getattr(self, s)}" for s in SOURCES) + ")"

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _stream_seed(base_seed: int, stream: int, member: int) -> int:
    sequence = np.random.SeedSequence(base_seed, spawn_key=(stream, member))
    return int(sequence.generate_state(1, np.uint32)[0])


def check_vary(vary: Iterable[str]) -> tuple[str, ...]:
    """The varied sources in canonical order; an unknown source names the allowed ones."""
    vary = tuple(vary)
    unknown = [s for s in vary if s not in SOURCES]
    if unknown:
        raise bad_setting("ensemble.vary", list(vary),
                          f"a subset of {list(SOURCES)} (unknown: {', '.join(map(str, unknown))})")
    return tuple(s for s in SOURCES if s in vary)


def member_seeds(base_seed: int, vary: Iterable[str], member: int) -> MemberSeeds:
    """Seeds of ``member`` for base seed ``base_seed`` when the sources ``vary`` differ."""
    varied = check_vary(vary)
    seeds = {s: _stream_seed(base_seed, STREAM_IDS[s], member if s in varied else 0)
             for s in SOURCES}
    return MemberSeeds(**seeds, shared=_stream_seed(base_seed, STREAM_IDS["shared"], 0))
