"""How a stage hands its independent pieces (files to decode, batches of institutions to
check or compute, workbooks to write) to whoever runs them.

A stage takes a :data:`Mapper` and never knows what is behind it: :func:`serial_map` runs the
pieces in the calling process (the default, and the right choice for small work); the task
dispatcher (:mod:`cwdx.tasks`) passes one that fans them out to Dask workers. Pieces must be
picklable functions of picklable arguments that write only files under temporary names; the
caller records their results in the workspace database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

Piece = TypeVar("Piece")
Result = TypeVar("Result")


class Mapper(Protocol):
    """``mapper(function, pieces)`` yields ``function(piece)`` for each piece, in input order."""

    def __call__(
        self, function: Callable[[Piece], Result], pieces: Sequence[Piece]
    ) -> Iterable[Result]: ...


def serial_map(function: Callable[[Piece], Result], pieces: Sequence[Piece]) -> Iterator[Result]:
    """Run every piece in the calling process, one after another."""
    for piece in pieces:
        yield function(piece)
