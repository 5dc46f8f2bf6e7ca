"""The rule catalogue: every rule is declared once, by the :func:`rule` decorator on its
function, and the catalogue (:data:`RULES`, :data:`RULE_IDS`) is built from the declarations
on first use.

Declarations only hold data; texts or columns that come from the reference (a code list in
the advice, the columns the template assigns a rule) are given as functions of the reference
and resolved when the catalogue is built, so importing :mod:`cwdx.rules` loads no reference
data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, overload

from cwdx.reference import Reference, TableName, load_reference
from cwdx.rules.model import Rule, RuleFunction, Scope, Severity, Unit, code_list

#: A declared text or column list, or how to read it from the reference.
Columns = tuple[str, ...] | Callable[[Reference], tuple[str, ...]]
Advice = str | Callable[[Reference], str]


@dataclass(frozen=True)
class Declaration:
    """One :func:`rule` declaration before the reference is read."""

    id: str
    severity: Severity
    table: TableName
    unit: Unit
    message: str
    advice: Advice
    columns: Columns | None
    func: RuleFunction
    scope: Scope
    after_errors: bool
    cell_values: bool
    format_fallback: bool
    column_in_finding: bool

    def resolve(self, reference: Reference) -> Rule:
        """The catalogue's :class:`Rule` of this declaration."""
        advice = self.advice(reference) if callable(self.advice) else self.advice
        if self.columns is None:
            columns = _owned_columns(reference, self.table, self.id, self.format_fallback)
        elif callable(self.columns):
            columns = self.columns(reference)
        else:
            columns = self.columns
        return Rule(
            id=self.id,
            severity=self.severity,
            table=self.table,
            unit=self.unit,
            message=self.message,
            advice=advice,
            columns=tuple(columns),
            func=self.func,
            scope=self.scope,
            after_errors=self.after_errors,
            cell_values=self.cell_values,
            format_fallback=self.format_fallback,
            column_in_finding=self.column_in_finding,
        )


_DECLARED: dict[str, Declaration] = {}


def rule(
    rule_id: str,
    *,
    severity: Severity,
    table: TableName,
    unit: Unit,
    message: str,
    advice: Advice,
    columns: Columns | None = None,
    scope: Scope = "institution",
    after_errors: bool = False,
    cell_values: bool = False,
    format_fallback: bool = False,
    column_in_finding: bool = True,
) -> Callable[[RuleFunction], RuleFunction]:
    """Declare the decorated function as rule ``rule_id`` (see :class:`Rule` for the
    properties). ``columns`` defaults, for ``cell_values`` rules, to the columns the template
    assigns the rule; ``advice`` and ``columns`` may be functions of the reference.

    Declaring an id twice is a programming error (``ValueError``).
    """

    def register(func: RuleFunction) -> RuleFunction:
        if rule_id in _DECLARED:
            raise ValueError(f"rule {rule_id} is declared twice")
        if columns is None and not cell_values:
            raise ValueError(f"rule {rule_id} declares no columns")
        _DECLARED[rule_id] = Declaration(
            rule_id,
            severity,
            table,
            unit,
            message,
            advice,
            columns,
            func,
            scope,
            after_errors,
            cell_values,
            format_fallback,
            column_in_finding,
        )
        RULES.reset()
        return func

    return register


def unregister(rule_id: str) -> None:
    """Remove a declared rule (tests that declare a throw-away rule)."""
    del _DECLARED[rule_id]
    RULES.reset()


@contextmanager
def registered(rule_id: str, func: RuleFunction, **properties: Any) -> Iterator[Rule]:
    """Declare ``func`` as rule ``rule_id`` (keyword ``properties`` as for :func:`rule`) for
    the duration of the ``with`` block, yielding its catalogue entry."""
    rule(rule_id, **properties)(func)
    try:
        yield RULES[rule_id]
    finally:
        unregister(rule_id)


def _catalogue_order(rule_id: str) -> tuple[bool, str]:
    """E01..E16, W01..W12, then X01 (checks.md's order)."""
    return (rule_id.startswith("X"), rule_id)


class Catalogue(MutableMapping[str, Rule]):
    """Every rule by id in catalogue order, built from the declarations on first use (and
    again after a declaration is added or removed). Entries may be replaced (tests put a
    failing function in place of a rule's)."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] | None = None

    def reset(self) -> None:
        """Forget the built catalogue (a declaration changed)."""
        self._rules = None

    def _built(self) -> dict[str, Rule]:
        if self._rules is None:
            reference = load_reference()
            ordered = sorted(_DECLARED.values(), key=lambda d: _catalogue_order(d.id))
            self._rules = {d.id: d.resolve(reference) for d in ordered}
        return self._rules

    def __getitem__(self, rule_id: str) -> Rule:
        return self._built()[rule_id]

    def __setitem__(self, rule_id: str, value: Rule) -> None:
        self._built()[rule_id] = value

    def __delitem__(self, rule_id: str) -> None:
        del self._built()[rule_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in _DECLARED

    def __repr__(self) -> str:
        return f"Catalogue({list(self)})"


class RuleIds(Sequence[str]):
    """The declared rule ids in catalogue order (read without loading the reference);
    compares equal to a tuple of the same ids."""

    def _ids(self) -> list[str]:
        return sorted(_DECLARED, key=_catalogue_order)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._ids()[index]

    def __len__(self) -> int:
        return len(_DECLARED)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in _DECLARED

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(tuple(self))


#: Every rule by id, in the order E01..E16, W01..W12, X01.
RULES = Catalogue()
#: The rule ids in catalogue order.
RULE_IDS = RuleIds()


def severity_total(counts: Mapping[str, int], severity: Severity) -> int:
    """The sum of the counts of the rules of one severity (``"error"``/``"warning"``); ids
    that are not rules are ignored."""
    return sum(
        int(n)
        for rid, n in counts.items()
        if rid in _DECLARED and _DECLARED[rid].severity == severity
    )


def rules_for(table: TableName) -> list[Rule]:
    """The rules reporting on ``table`` in catalogue order."""
    return [entry for entry in RULES.values() if entry.table == table]


def value_rule_ids(table: TableName) -> tuple[frozenset[str], str]:
    """The ``cell_values`` rules of ``table`` and its ``format_fallback`` rule (``""``)."""
    declared = [d for d in _DECLARED.values() if d.table == table and d.cell_values]
    fallback = next((d.id for d in declared if d.format_fallback), "")
    return frozenset(d.id for d in declared), fallback


def _owned_columns(
    reference: Reference, table: TableName, rule_id: str, fallback: bool
) -> tuple[str, ...]:
    """The columns whose filled cells a ``cell_values`` rule checks: those the template
    assigns it (and, for the ``format_fallback`` rule, every length-limited column)."""
    return tuple(
        spec.name
        for spec in reference.columns(table)
        if rule_id in spec.rules or (fallback and spec.max_length)
    )


def every_column(table: TableName) -> Callable[[Reference], tuple[str, ...]]:
    """``columns=`` of a rule about every column of ``table`` (E01)."""
    return lambda reference: tuple(spec.name for spec in reference.columns(table))


def codes_advice(column: str) -> Callable[[Reference], str]:
    """``advice=`` of a staff code column (E06, E07, E08, W10): its codes, never words."""

    def advice(reference: Reference) -> str:
        listed = code_list(reference, reference.column("staff", column).domain)
        codes = f"（{listed}）" if listed else ""
        return f"“{column}”必须填写规定的数字代码{codes}，不能填写文字。"

    return advice
