"""The rules of ``checks.md`` (E01–E16, W01–W12, X01), each declared once by the
:func:`rule` decorator on its vectorised function.

- :mod:`cwdx.rules.model`: :class:`Rule`, :class:`Hits`, :class:`TableState`,
  :class:`CheckContext` and the value helpers rules share;
- :mod:`cwdx.rules.cells`, :mod:`cwdx.rules.rows`, :mod:`cwdx.rules.persons`: the rules;
- :mod:`cwdx.rules.catalogue`: the decorator and the catalogue (:data:`RULES`,
  :data:`RULE_IDS`), built from the reference on first use.

A rule function takes a :class:`CheckContext` and returns a list of :class:`Hits`;
:mod:`cwdx.check` turns hits into the finding table and the counts. Importing this package
declares every rule but loads no reference data.
"""

from cwdx.rules import cells, persons, rows  # noqa: F401  (declare the rules)
from cwdx.rules.catalogue import (
    RULE_IDS,
    RULES,
    registered,
    rule,
    rules_for,
    severity_total,
    unregister,
)
from cwdx.rules.model import (
    SEVERITY_LABELS,
    CheckContext,
    Hits,
    Rule,
    Scope,
    Severity,
    TableState,
    Unit,
    code_list,
    format_hint,
    in_domain,
)

__all__ = [
    "RULES",
    "RULE_IDS",
    "SEVERITY_LABELS",
    "CheckContext",
    "Hits",
    "Rule",
    "Scope",
    "Severity",
    "TableState",
    "Unit",
    "code_list",
    "format_hint",
    "in_domain",
    "registered",
    "rule",
    "rules_for",
    "severity_total",
    "unregister",
]
