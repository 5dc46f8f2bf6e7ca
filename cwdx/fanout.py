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


def call_piece(job: tuple[Callable[[Piece], Result], Piece]) -> Result:
    """``function(piece)`` of a ``(function, piece)`` job: pieces of several stages handed to
    one mapper call (the function must be picklable: a module-level one)."""
    function, piece = job
    return function(piece)


def mapper_width(mapper: object) -> int:
    """How many pieces ``mapper`` runs at once: its ``width`` attribute (the Dask mapper sets
    it to its workers' threads), 1 for :func:`serial_map` and any mapper without one."""
    return max(1, int(getattr(mapper, "width", 1)))


def spread_width(mapper: object) -> int:
    """The ``width`` to cut pieces that cost little to set up (files to decode, workbooks to
    write) for ``mapper``: its runners times its ``spread`` attribute (default 2) when it has
    several, so :func:`cut_batches` gives each about twice that many and runners that start
    late or get bigger pieces still finish together."""
    width = mapper_width(mapper)
    return max(1, int(getattr(mapper, "spread", 2))) * width if width > 1 else 1


def batches_each(mapper: object) -> int:
    """How many batches of a check or computation each of ``mapper``'s runners should get:
    its ``batches_each`` attribute, else 2 (the work spreads and progress moves while it runs;
    each batch pays a fixed cost, so a mapper whose runners all start at once asks for 1)."""
    return max(1, int(getattr(mapper, "batches_each", 2)))


def cut_batches(
    sizes: Sequence[tuple[str, int]], most_rows: int, width: int = 1, each: int = 2
) -> list[tuple[str, ...]]:
    """``(institution, rows)`` in order, cut into consecutive batches of whole institutions.

    A batch holds at most ``most_rows`` rows (what bounds a worker's memory; an institution
    larger than that is a batch of its own). With ``width`` > 1 runners the batches are also
    cut small enough that each runner gets about ``each``, so the work spreads over all of them.
    """
    total = sum(size for _, size in sizes)
    limit = most_rows if width <= 1 else max(1, min(most_rows, -(-total // (each * width))))
    out: list[tuple[str, ...]] = []
    current: list[str] = []
    rows = 0
    for org, size in sizes:
        if current and rows + size > limit:
            out.append(tuple(current))
            current, rows = [], 0
        current.append(org)
        rows += size
    if current:
        out.append(tuple(current))
    return out
