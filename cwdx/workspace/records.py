"""The records the workspace returns: import outcomes, institutions, imports, checks,
deletes and tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cwdx.errors import Hint

if TYPE_CHECKING:
    import pandas as pd


def institution_label(org: str, name: str) -> str:
    """How an institution is named to users: ``ORG（名称）``, or just the code without a name."""
    return f"{org}（{name}）" if name else org


def unknown_orgs_message(orgs: Sequence[str]) -> str:
    """The refusal for institution codes the workspace does not hold."""
    return (
        f"工作区中没有机构 {'、'.join(orgs)}，请用 status 命令（或机构列表）查看已导入的机构代码。"
    )


@dataclass
class ImportOutcome:
    """What happened to one file of :meth:`Workspace.import_files`."""

    file: str
    path: str
    table: str
    sha256: str
    rows: int = 0
    #: institution -> rows imported for it (empty when rejected)
    org_rows: dict[str, int] = field(default_factory=dict)
    #: institution -> name as read from the file
    org_names: dict[str, str] = field(default_factory=dict)
    #: the full Chinese message when the file was rejected, else ``None``
    rejected: str | None = None
    #: why it was rejected: ``duplicate`` (same content already imported), ``frozen`` (rows of
    #: frozen institutions, listed in :attr:`frozen_orgs`), ``institution`` (rows of another
    #: institution than the single one of a 机构版 workspace) or ``file`` (the file itself)
    rejected_kind: str | None = None
    frozen_orgs: list[str] = field(default_factory=list)
    #: ``(file name, import time)`` of the earlier import with the same content
    duplicate_of: tuple[str, str] | None = None
    #: the reader's normalisation report (has ``describe()``), ``None`` when not read
    report: Any = None
    import_id: int | None = None
    forced: bool = False
    #: Excel row numbers of rows equal to the template's sample record (a warning)
    sample_rows: list[int] = field(default_factory=list)
    #: the next step the rejection suggests (import again on purpose, unfreeze), if any
    hint: Hint | None = None
    #: where :func:`cwdx.inbox.import_inbox` moved the imported file (``inbox/done/…``,
    #: relative to the workspace); ``None`` otherwise
    moved_to: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was imported."""
        return self.rejected is None

    def describe(self) -> str:
        """One Chinese line for the user: rows per file, or ``未导入：`` and the rejection."""
        if self.rejected:
            return f"未导入：{self.rejected}"
        orgs = "、".join(f"{org} {n} 行" for org, n in self.org_rows.items())
        text = f"文件 {self.file}：导入 {self.rows} 行"
        return f"{text}（{orgs}）。" if orgs else f"{text}。"

    def lines(self) -> list[str]:
        """What the command line shows for this file: :meth:`describe`, then (indented) what
        reading rewrote beyond white space and case (``0304 → 03.04``), if anything."""
        lines = [self.describe()]
        report = self.report
        if self.ok and report is not None and getattr(report, "columns", None):
            lines.append("  " + report.describe())
        return lines

    def to_details(self) -> dict[str, Any]:
        """This outcome as JSON-able data (what an import task records per file;
        :meth:`from_details` reads it back in the page that submitted the task)."""
        columns = getattr(self.report, "columns", None) or []
        return {
            "file": self.file,
            "table": self.table,
            "rows": self.rows,
            "org_rows": dict(self.org_rows),
            "org_names": dict(self.org_names),
            "rejected": self.rejected,
            "rejected_kind": self.rejected_kind,
            "frozen_orgs": list(self.frozen_orgs),
            "duplicate_of": list(self.duplicate_of) if self.duplicate_of else None,
            "import_id": self.import_id,
            "forced": self.forced,
            "sample_rows": list(self.sample_rows),
            "moved_to": self.moved_to,
            "changes": [[c.column, c.changed, [list(e) for e in c.examples]] for c in columns],
        }

    @classmethod
    def from_details(cls, data: dict[str, Any]) -> ImportOutcome:
        """The outcome :meth:`to_details` recorded (``report`` rebuilt from its changes)."""
        from cwdx.reader import ColumnChange, NormalisationReport

        changes = data.get("changes") or []
        report = NormalisationReport(
            [ColumnChange(c, int(n), [(str(a), str(b)) for a, b in ex]) for c, n, ex in changes]
        )
        earlier = data.get("duplicate_of")
        return cls(
            file=str(data.get("file") or ""),
            path="",
            table=str(data.get("table") or ""),
            sha256="",
            rows=int(data.get("rows") or 0),
            org_rows={str(k): int(v) for k, v in (data.get("org_rows") or {}).items()},
            org_names=dict(data.get("org_names") or {}),
            rejected=data.get("rejected"),
            rejected_kind=data.get("rejected_kind"),
            frozen_orgs=list(data.get("frozen_orgs") or []),
            duplicate_of=(str(earlier[0]), str(earlier[1])) if earlier else None,
            report=report,
            import_id=data.get("import_id"),
            forced=bool(data.get("forced")),
            sample_rows=[int(r) for r in data.get("sample_rows") or []],
            moved_to=data.get("moved_to"),
        )


@dataclass
class InstitutionInfo:
    """One institution of the workspace with its counts, stage and last check."""

    org: str
    name: str
    stage: str
    frozen: bool
    cases: int
    staff: int
    created: str
    updated: str
    checked: bool = False
    passed: bool | None = None
    errors: int | None = None
    warnings: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: the last check's crashed rules as stored (``cwdx.check.parse_failed_rules`` reads them)
    failed_rules: list[str] = field(default_factory=list)
    checked_at: str | None = None
    computed_at: str | None = None

    @property
    def display_name(self) -> str:
        """``ORG（名称）`` or just the code when no name is known."""
        return institution_label(self.org, self.name)


@dataclass
class ImportRecord:
    """One row of the import history (also the rejected files)."""

    id: int
    table: str
    file: str
    sha256: str
    rows: int
    time: str
    rejected: str | None
    forced: bool
    #: rows of this import still in the workspace (deletes reduce it)
    current_rows: int


@dataclass
class CheckRecord:
    """The stored last check of one institution."""

    org: str
    passed: bool
    counts: dict[str, int]
    findings: pd.DataFrame | None
    failed_rules: list[str]
    time: str
    #: totals of error and warning findings (stored with the check)
    errors: int = 0
    warnings: int = 0


@dataclass
class DeleteOutcome:
    """What :meth:`Workspace.delete` removed."""

    #: institution -> table -> rows deleted
    rows: dict[str, dict[str, int]]
    #: institutions left with no rows, hence removed
    removed: list[str]

    @property
    def total(self) -> int:
        """All rows deleted."""
        return sum(n for per in self.rows.values() for n in per.values())


@dataclass
class TaskRecord:
    """One task (import, check, compute, export, report, delete, unfreeze, clear).

    ``orgs`` are the institutions it touches (empty: the whole workspace); ``state`` is one of
    Queued/Running/Succeeded/Failed; ``details`` holds ``progress`` ({"done", "total",
    "label"}), per-institution counts (``orgs``), ``outputs`` and, when it failed, ``error``
    (Chinese). ``params`` are the parameters it was submitted with.
    """

    id: int
    kind: str
    orgs: list[str]
    started_by: str
    pid: int
    queued: str
    start: str | None
    end: str | None
    state: str
    details: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (``None`` while not finished)."""
        if not self.start or not self.end:
            return None
        fmt = "%Y-%m-%d %H:%M:%S"
        delta = datetime.strptime(self.end, fmt) - datetime.strptime(self.start, fmt)
        return delta.total_seconds()

    @property
    def seconds(self) -> float | None:
        """Seconds it ran: until its end, or until now while it runs (``None`` before)."""
        if not self.start:
            return None
        if self.end:
            return self.duration
        fmt = "%Y-%m-%d %H:%M:%S"
        return (datetime.now() - datetime.strptime(self.start, fmt)).total_seconds()

    @property
    def progress(self) -> dict[str, Any]:
        """``{"done", "total", "label"}`` of the task (empty before it reports any)."""
        return dict(self.details.get("progress") or {})

    @property
    def error(self) -> str | None:
        """The Chinese error text of a failed task (``None`` otherwise)."""
        return self.details.get("error")

    @property
    def finished(self) -> bool:
        """Whether it ended (Succeeded or Failed)."""
        return self.state in ("Succeeded", "Failed")
