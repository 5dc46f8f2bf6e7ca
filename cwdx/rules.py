"""The rule catalogue of ``checks.md`` (E01–E16, W01–W12, X01) as data, plus one vectorised
function per rule.

A rule function takes a :class:`CheckContext` (the institution's frames with per-cell
emptiness, parsed values and validity computed once) and returns a list of :class:`Hits`:
boolean masks over the rows of its table, each with the column it names (empty for
row-level findings), the per-finding 说明 and the cells to mark in 标注数据.
:mod:`cwdx.check` turns hits into the finding table and the counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cwdx.reference import ColumnSpec, Reference, TableName
from cwdx.values import arrow_strings, excel_error_mask, too_long_mask, typed_column

Severity = Literal["error", "warning"]
Unit = Literal["cell", "row", "person"]

SEVERITY_LABELS: dict[str, str] = {"error": "错误", "warning": "警告"}

#: Dates and date-times must lie in this range (templates.md "Types").
DATE_MIN = pd.Timestamp("1900-01-01")
DATE_MAX = pd.Timestamp("2100-12-31 23:59:59.999999")

STAFF = "《申报人员信息自然表》"

# Column names used by row-level rules (exact template headers).
ORG = "组织机构代码"
NAME = "姓名"
CERT = "执业证书编码"
DEPT = "所在科室"
KIND = "人员类别"
SPECIALTY = "申报专业"
BIRTH = "出生日期"
APPOINTED = "现专业技术职务聘任时间"
CUTOFF = "提取工作量数据截止时间"
CASE_NO = "病案号"
ADMIT = "入院时间"
DISCHARGE = "出院时间"
DISCHARGE_DEPT = "出院科别"
MAIN_DIAG = "出院主要诊断编码"
MAIN_PROC = "主要手术操作编码"
DOCTORS = ("主（副主）任医师", "主治医师", "住院医师")
NURSES = ("责任护士", "质控护师")
OTHER_PROCS = tuple(f"其他手术操作编码{k}" for k in range(1, 6))
OTHER_DIAGS = tuple(f"出院其他诊断编码{k}" for k in range(1, 11))
PROC_SLOTS = ((MAIN_PROC, "主要手术操作术者"),) + tuple(
    (f"其他手术操作编码{k}", f"其他手术操作术者{k}") for k in range(1, 6)
)

#: Rules a filled cell can carry when its value does not fit (domain or format rules).
CELL_VALUE_RULES = frozenset(
    {"E02", "E03", "E05", "E06", "E07", "E08", "W10", "E15", "W03", "W04", "W05", "W07", "X01"}
)
#: Domain rules of one cell that checks.md counts as row-level rules (W01–W06): their
#: findings have no column (the cell is still marked in 标注数据).
ROW_LEVEL_DOMAIN_RULES = frozenset({"W03", "W05"})


@dataclass
class Hits:
    """Findings of one rule over one table: ``mask`` marks the rows hit.

    ``column`` names the cell for cell findings (empty for row-level findings); ``value``
    defaults to that cell's value. ``message`` is the finding's 说明 (one text, or a Series
    aligned to the table). ``cells`` names the columns to mark in 标注数据 (``|``-joined,
    one text or a Series); it defaults to ``column``.
    """

    table: TableName
    mask: pd.Series
    column: str = ""
    message: str | pd.Series = ""
    value: pd.Series | None = None
    cells: str | pd.Series | None = None


@dataclass(frozen=True)
class Rule:
    """One rule of ``checks.md``: identity, severity, counting unit, texts and its function."""

    id: str
    severity: Severity
    table: TableName
    unit: Unit
    message: str
    advice: str
    columns: tuple[str, ...]
    func: Callable[[CheckContext], list[Hits]] = field(repr=False, compare=False)

    @property
    def percent(self) -> bool:
        """Whether the message carries a percentage of the imported case rows."""
        return "%" in self.message

    @property
    def severity_label(self) -> str:
        """错误 or 警告."""
        return SEVERITY_LABELS[self.severity]

    def summary(self, count: int, case_rows: int) -> str:
        """The summary message with ``**`` (or ``*``) filled with the count and ``**%`` with
        the percentage of ``case_rows`` (two decimals, rounded half up)."""
        text = re.sub(r"\*\*?", str(count), self.message, count=1)
        if self.percent:
            text = text.replace("**%", f"{percent(count, case_rows)}%", 1)
        return text


def percent(count: int, total: int) -> str:
    """``count ÷ total × 100`` with two decimals, rounded half up; ``0.00`` when total is 0."""
    if total <= 0:
        return "0.00"
    value = Decimal(count) * 100 / Decimal(total)
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------- table state


def _limits(note: str) -> tuple[float | None, float | None]:
    """Numeric range of an int/decimal column from its template note."""
    match = re.search(r"(?:integer|number) (\d+)\.\.(\d+)", note)
    if match:
        return float(match.group(1)), float(match.group(2))
    match = re.search(r"(?:integer|number) >= (\d+)", note)
    if match:
        return float(match.group(1)), None
    return None, None


def _code_mask(column: str) -> Callable[[pd.Series], pd.Series] | None:
    """The vectorised validity test of code-like text columns (组织机构代码, 执业证书编码)."""
    from cwdx.values import valid_license_code_mask, valid_org_code_mask

    return {ORG: valid_org_code_mask, CERT: valid_license_code_mask}.get(column)


def format_hint(spec: ColumnSpec, reference: Reference) -> str:
    """What a valid value of the column looks like, for the finding's 说明."""
    if spec.domain:
        return f"应为规定的代码（{_domain_title(spec, reference)}）"
    if spec.type in ("date", "datetime"):
        example = "2020-01-05" if spec.type == "date" else "2020-01-05 08:30"
        hint = f"应为有效日期{'时间' if spec.type == 'datetime' else ''}（如 {example}），"
        hint += "在1900-01-01至2100-12-31之间"
        if "today" in spec.note:
            hint += "且不晚于检测当天"
        return hint
    if spec.type in ("int", "decimal"):
        low, high = _limits(spec.note)
        kind = "整数" if spec.type == "int" else "数字"
        if low is not None and high is not None:
            return f"应为{int(low)}至{int(high)}之间的{kind}"
        if low is not None:
            return f"应为不小于{int(low)}的{kind}"
        return f"应为{kind}"
    parts = []
    if spec.name == ORG:
        parts.append("只能包含英文字母、数字和“-”，不超过30个字符")
    elif spec.name == CERT:
        parts.append("只能包含英文字母和数字，不超过30个字符")
    elif spec.max_length:
        parts.append(f"不超过{spec.max_length}个字符")
    return "，".join(parts) if parts else "格式不正确"


def _domain_title(spec: ColumnSpec, reference: Reference) -> str:
    """Where the column's codes are listed, as users find it (the template's code-list sheet
    or the ICD list's title), followed by the codes themselves when the list is short:
    ``《申报人员信息自然表-学历》：1=博士研究生、2=硕士研究生…``."""
    from cwdx.templates import domain_title

    title = domain_title(spec.domain)
    listed = code_list(reference, spec.domain, "、")
    return f"{title}：{listed}" if listed else title


def code_list(reference: Reference, domain: str, sep: str = "，", limit: int = 12) -> str:
    """``1=男，2=女``: the codes of a short domain with their names (``""`` when the domain
    has more than ``limit`` codes or none), for messages and advice."""
    codes = reference.domains.get(domain, {})
    if not codes or len(codes) > limit:
        return ""
    return sep.join(f"{code}={name}" for code, name in codes.items())


_VALUE_SETS: dict[tuple[int, str], tuple[Reference, pa.Array]] = {}


def in_domain(series: pd.Series, reference: Reference, domain: str) -> pd.Series:
    """Vectorised membership of (canonical) values in a domain's codes; False for NA.

    The code list is turned into an Arrow array once per reference and domain (the ICD lists
    hold tens of thousands of codes).
    """
    key = (id(reference), domain)
    cached = _VALUE_SETS.get(key)
    if cached is None or cached[0] is not reference:
        cached = (reference, pa.array(sorted(reference.domain_codes(domain)), type=pa.string()))
        _VALUE_SETS[key] = cached
    hit = pc.fill_null(pc.is_in(arrow_strings(series), value_set=cached[1]), False)
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=series.index, dtype=bool)


class TableState:
    """Per-cell facts of one table computed once: emptiness, parsed values, and which filled
    cells break their column's domain or format rule (``invalid``)."""

    def __init__(
        self, table: TableName, df: pd.DataFrame | None, reference: Reference, today: date
    ) -> None:
        self.table = table
        self.specs: dict[str, ColumnSpec] = {s.name: s for s in reference.columns(table)}
        df = pd.DataFrame() if df is None else df
        missing = [c for c in (*self.specs, "_file", "_row", "_import", "_org") if c not in df]
        if missing:
            df = df.copy()
            for col in missing:
                df[col] = pd.Series([None] * len(df), index=df.index, dtype="object")
        self.df = df
        self.reference = reference
        self.today = pd.Timestamp(today)
        self.empty: dict[str, pd.Series] = {}
        self.typed: dict[str, pd.Series] = {}
        self.invalid: dict[str, pd.Series] = {}
        self.cell_rule: dict[str, str] = {}
        for name, spec in self.specs.items():
            raw = df[name]
            empty = raw.isna() | (raw.astype("string").str.strip() == "").fillna(True)
            self.empty[name] = empty.astype(bool)
            rule = next((r for r in spec.rules if r in CELL_VALUE_RULES), "")
            if not rule and spec.max_length:
                rule = "E15" if table == "cases" else "E02"
            self.cell_rule[name] = rule
            self.invalid[name] = (~self.empty[name]) & ~self._fits(spec, raw)

    def _fits(self, spec: ColumnSpec, raw: pd.Series) -> pd.Series:
        """Whether each (filled) value fits the column's type, range, length and domain."""
        text = raw.astype("string")
        ok = pd.Series(True, index=raw.index)
        if spec.type == "code":
            if spec.domain:
                ok &= in_domain(text, self.reference, spec.domain)
        elif spec.type in ("date", "datetime"):
            typed = typed_column(raw, spec.type)
            self.typed[spec.name] = typed
            valid = typed.notna() & (typed >= DATE_MIN) & (typed <= DATE_MAX)
            if "today" in spec.note:
                valid &= typed.dt.normalize() <= self.today
            ok &= valid.fillna(False).astype(bool)
        elif spec.type in ("int", "decimal"):
            typed = typed_column(raw, spec.type)
            self.typed[spec.name] = typed
            valid = typed.notna()
            low, high = _limits(spec.note)
            if low is not None:
                valid &= typed >= low
            if high is not None:
                valid &= typed <= high
            ok &= valid.fillna(False).astype(bool)
        code_mask = _code_mask(spec.name)
        if code_mask is not None:
            ok &= code_mask(text)
        ok &= ~too_long_mask(text, spec.max_length)
        ok &= ~excel_error_mask(text)  # an Excel error value (#N/A) is no value of any type
        return ok

    def valid(self, column: str) -> pd.Series:
        """Filled cells whose value fits the column (no cell-level finding)."""
        return ~self.empty[column] & ~self.invalid[column]

    def all_valid(self, columns: tuple[str, ...]) -> pd.Series:
        """Rows where every one of ``columns`` is filled and valid."""
        mask = pd.Series(True, index=self.df.index)
        for col in columns:
            mask &= self.valid(col)
        return mask

    def text(self, column: str) -> pd.Series:
        """The column as strings (empty string for an empty cell)."""
        return self.df[column].astype("string").fillna("")


@dataclass
class CheckContext:
    """What the rules of one institution look at.

    ``cases``/``staff`` are the institution's tables; ``all_staff`` every applicant of the
    workspace (E12, E13); ``error_rows`` is set by the engine before W12 runs: staff rows with
    an error finding. ``matched``/``explain`` are filled lazily from :mod:`cwdx.matching`
    (W11, W12).
    """

    cases: TableState
    staff: TableState
    all_staff: TableState
    reference: Reference
    today: date
    error_rows: pd.Series | None = None
    explain: pd.Series | None = None
    matched: pd.Series | None = None


# --------------------------------------------------------------------------- rule functions


def _cell_rule(rule_id: str, table: TableName) -> Callable[[CheckContext], list[Hits]]:
    """Filled cells of every column whose domain/format rule is ``rule_id``."""

    def run(ctx: CheckContext) -> list[Hits]:
        state = ctx.cases if table == "cases" else ctx.staff
        hits = []
        for name, spec in state.specs.items():
            if state.cell_rule[name] != rule_id:
                continue
            mask = state.invalid[name]
            if spec.domain:
                message = (
                    f"“{name}”不在规定取值范围内（{_domain_title(spec, ctx.reference)}），"
                    + _DOMAIN_FIX.get(spec.domain, "请改为列表中的代码")
                )
            else:
                message = f"“{name}”格式错误：{format_hint(spec, ctx.reference)}，请按此修改"
            if rule_id in ROW_LEVEL_DOMAIN_RULES:
                # a row-level rule (checks.md): no column, but the value and the marked cell
                hits.append(Hits(table, mask, "", message, value=state.df[name], cells=name))
            else:
                hits.append(Hits(table, mask, name, message))
            if rule_id == "E15" and name == DISCHARGE:
                hits.append(_discharge_before_admission(ctx))
        return hits

    return run


#: What to do about a value outside its list (default: 请改为列表中的代码).
_DOMAIN_FIX = {
    "ICD10-NC2": "请更正编码",
    "ICD9CM3-NC3": "请更正编码",
    "SPECIALTY": "请改为列表中的专业名称",
}


def _discharge_before_admission(ctx: CheckContext) -> Hits:
    """E15 on 出院时间: its date is earlier than the date of 入院时间 (both valid)."""
    state = ctx.cases
    both = state.valid(DISCHARGE) & state.valid(ADMIT)
    out = state.typed[DISCHARGE].dt.normalize()
    into = state.typed[ADMIT].dt.normalize()
    mask = both & (out < into).fillna(False).astype(bool)
    return Hits("cases", mask, DISCHARGE, "“出院时间”的日期早于“入院时间”的日期，请核对这两个时间")


def _empty_rule(
    table: TableName, columns: Callable[[TableState], list[str]], text: str
) -> Callable[[CheckContext], list[Hits]]:
    def run(ctx: CheckContext) -> list[Hits]:
        state = ctx.cases if table == "cases" else ctx.staff
        return [
            Hits(table, state.empty[col], col, f"“{col}”为空，{text}") for col in columns(state)
        ]

    return run


def _w08(ctx: CheckContext) -> list[Hits]:
    state = ctx.cases
    hits = []
    has_proc = ~state.empty[MAIN_PROC]
    for name, spec in state.specs.items():
        if spec.level == "important":
            mask = state.empty[name]
        elif spec.level == "important-if-procedure":
            mask = state.empty[name] & has_proc
        else:
            continue
        hits.append(Hits("cases", mask, name, f"“{name}”为空，该字段用于指标计算，请尽量补充填写"))
    return hits


def _empty_row_rule(columns: tuple[str, ...], text: str) -> Callable[[CheckContext], list[Hits]]:
    """Rows where any of ``columns`` is empty (W01, W02)."""

    def run(ctx: CheckContext) -> list[Hits]:
        state = ctx.cases
        mask = _any_of(state, [state.empty[col] for col in columns])
        cells = _join_where(state, {col: state.empty[col] for col in columns}, mask, "|")
        names = cells.str.replace("|", "、", regex=False)
        message = "“" + names.str.replace("、", "”、“", regex=False) + "”为空，" + text
        return [Hits("cases", mask, "", message, cells=cells)]

    return run


def _any_of(state: TableState, flags: Iterable[pd.Series]) -> pd.Series:
    """Rows of ``state`` where any of the boolean ``flags`` is True."""
    mask = pd.Series(False, index=state.df.index)
    for flag in flags:
        mask |= flag
    return mask


def _join_where(
    state: TableState,
    parts: dict[str, pd.Series],
    mask: pd.Series,
    sep: str,
    with_value: bool = False,
) -> pd.Series:
    """Per hit row, the names (optionally ``name“value”``) of the columns whose part is True,
    joined by ``sep`` (vectorised; ``""`` for rows not hit)."""
    out = pd.Series("", index=state.df.index, dtype="object")
    rows = mask[mask].index
    if len(rows) == 0:
        return out
    joined = pd.Series("", index=rows, dtype="string")
    for col, flag in parts.items():
        piece = pd.Series(col, index=rows, dtype="string")
        if with_value:
            piece = piece + "“" + state.text(col).loc[rows] + "”"
        piece = piece.where(flag.loc[rows].to_numpy(), "")
        glue = pd.Series(sep, index=rows, dtype="string").where(
            ((joined != "") & (piece != "")).to_numpy(), ""
        )
        joined = joined + glue + piece
    out.loc[rows] = joined.astype("object").to_numpy()
    return out


def _code_list_rows(
    columns: tuple[str, ...], list_title: str
) -> Callable[[CheckContext], list[Hits]]:
    """Rows with at least one filled code of ``columns`` not in its list (W04, X01)."""

    def run(ctx: CheckContext) -> list[Hits]:
        state = ctx.cases
        parts = {col: state.invalid[col] for col in columns}
        mask = _any_of(state, parts.values())
        cells = _join_where(state, parts, mask, "|")
        listed = _join_where(state, parts, mask, "、", with_value=True)
        message = listed + f"不在{list_title}中，请更正编码"
        return [Hits("cases", mask, "", message, cells=cells)]

    return run


def _w06(ctx: CheckContext) -> list[Hits]:
    state = ctx.cases
    parts = {surgeon: ~state.empty[code] & state.empty[surgeon] for code, surgeon in PROC_SLOTS}
    mask = _any_of(state, parts.values())
    cells = _join_where(state, parts, mask, "|")
    message = (
        "已填写手术操作编码，但"
        + cells.str.replace("|", "、", regex=False)
        + "为空，请补充填写术者"
    )
    return [Hits("cases", mask, "", message, cells=cells)]


def _w09(ctx: CheckContext) -> list[Hits]:
    from cwdx.matching import w09_later_duplicates

    state = ctx.cases
    keys = (ORG, CASE_NO, ADMIT, MAIN_DIAG)
    df = state.df
    mask = w09_later_duplicates(df, ctx.reference).astype(bool)
    message = pd.Series("", index=df.index, dtype="object")
    if mask.any():
        # name the row each duplicate repeats: the first of its group in import order
        ok = state.all_valid(keys)
        sub = pd.DataFrame(
            {
                "org": state.text(ORG),
                "no": state.text(CASE_NO),
                "admit": state.typed[ADMIT],
                "diag": state.text(MAIN_DIAG),
                "order_i": pd.to_numeric(df["_import"]),
                "order_r": pd.to_numeric(df["_row"]),
                "file": df["_file"].astype("string").fillna(""),
            },
            index=df.index,
        )[ok & ~mask]
        first = sub.sort_values(["order_i", "order_r"], kind="stable").drop_duplicates(
            ["org", "no", "admit", "diag"]
        )
        later = pd.DataFrame(
            {
                "org": state.text(ORG)[mask],
                "no": state.text(CASE_NO)[mask],
                "admit": state.typed[ADMIT][mask],
                "diag": state.text(MAIN_DIAG)[mask],
            }
        )
        joined = later.reset_index().merge(first, on=["org", "no", "admit", "diag"], how="left")
        text = (
            "与“"
            + joined["file"].astype("string").fillna("")
            + "”第"
            + joined["order_r"].astype("Int64").astype("string").fillna("")
            + "行的组织机构代码、病案号、入院时间、出院主要诊断编码完全一致，已作为重复记录移除；如确属重复，无需处理"
        )
        message.loc[joined["index"].to_numpy()] = text.to_numpy(dtype=object)
    return [Hits("cases", mask, "", message, cells="|".join(keys))]


def _e04(ctx: CheckContext) -> list[Hits]:
    state = ctx.staff
    both = state.valid(SPECIALTY) & state.valid(KIND)
    needed = state.text(SPECIALTY).map(
        lambda s: str(ctx.reference.specialties.get(s, {}).get("staff_kind", ""))
    )
    mask = both & (needed.astype("string") != state.text(KIND)).fillna(False).astype(bool)
    message = "“申报专业”与“人员类别”不匹配：临床医学类专业的人员类别应为1（医师），护理类专业应为2（护士），请核对申报专业或人员类别"
    return [Hits("staff", mask, SPECIALTY, message, cells=f"{SPECIALTY}|{KIND}")]


def _e09(ctx: CheckContext) -> list[Hits]:
    state = ctx.staff
    both = state.valid(BIRTH) & state.valid(APPOINTED)
    birth = state.typed[BIRTH]
    app = state.typed[APPOINTED]
    month = birth.dt.month
    day = birth.dt.day
    leap = (month == 2) & (day == 29)
    # The 18th birthday; a 29 Feb birthday counts from 1 Mar (year + 18 is never a leap year).
    adult = (birth.dt.year + 18) * 10000 + month.where(~leap, 3) * 100 + day.where(~leap, 1)
    appointed = app.dt.year * 10000 + app.dt.month * 100 + app.dt.day
    mask = both & (appointed < adult).fillna(False).astype(bool)
    message = (
        "“现专业技术职务聘任时间”（"
        + state.text(APPOINTED)
        + "）早于申报人员年满18周岁之日（出生日期 "
        + state.text(BIRTH)
        + "），请核对这两个日期"
    )
    return [Hits("staff", mask, "", message, cells=f"{BIRTH}|{APPOINTED}")]


def _e10(ctx: CheckContext) -> list[Hits]:
    state = ctx.staff
    both = state.valid(APPOINTED) & state.valid(CUTOFF)
    mask = both & (state.typed[CUTOFF] < state.typed[APPOINTED]).fillna(False).astype(bool)
    message = (
        "“提取工作量数据截止时间”（"
        + state.text(CUTOFF)
        + "）早于“现专业技术职务聘任时间”（"
        + state.text(APPOINTED)
        + "），请核对这两个日期"
    )
    return [Hits("staff", mask, "", message, cells=f"{APPOINTED}|{CUTOFF}")]


def _group_frame(state: TableState, columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows whose ``columns`` are all filled and valid, with the compared values."""
    ok = state.all_valid(columns)
    data = {}
    for col in columns:
        data[col] = state.typed[col][ok] if col in state.typed else state.text(col)[ok]
    frame = pd.DataFrame(data, index=state.df.index[ok])
    for col in ("_import", "_file", "_row", "_org"):
        frame[col] = state.df[col][ok]
    return frame


#: At most this many related rows are named in a group finding's 说明.
NAMED_ROWS = 3


def _related_rows(
    frame: pd.DataFrame, keys: tuple[str, ...], flagged: pd.Series, differ: str | None = None
) -> pd.Series:
    """For each flagged row of ``frame``, the other rows of its group (same ``keys``; with
    ``differ``, only those whose ``differ`` value is different) as ``“文件”第n行`` (with the
    institution when it is another one), at most :data:`NAMED_ROWS`, joined by ``、``."""
    out = pd.Series("", index=frame.index, dtype="object")
    if not flagged.any():
        return out
    group = frame.groupby(list(keys), sort=False, dropna=False).ngroup()
    wanted = set(group[flagged])
    members: dict[int, list] = {}
    for idx, gid in group.items():
        if gid in wanted:
            members.setdefault(gid, []).append(idx)
    for idx in flagged[flagged].index:
        own_org = frame.at[idx, "_org"]
        others = [
            o
            for o in members[group[idx]]
            if o != idx and (differ is None or frame.at[o, differ] != frame.at[idx, differ])
        ]
        parts = []
        for o in others[:NAMED_ROWS]:
            where = f"“{frame.at[o, '_file']}”第{int(frame.at[o, '_row'])}行"
            org = frame.at[o, "_org"]
            parts.append(where if org == own_org else f"机构{org}的{where}")
        text = "、".join(parts)
        if len(others) > NAMED_ROWS:
            text += f"等{len(others)}行"
        out.at[idx] = text
    return out


def _on_own_rows(
    ctx: CheckContext, frame: pd.DataFrame, flagged: pd.Series, message: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Map rows flagged in ``all_staff`` (and their messages) onto the institution's rows."""
    state = ctx.staff
    mask = pd.Series(False, index=state.df.index)
    text = pd.Series("", index=state.df.index, dtype="object")
    if not flagged.any() or state.df.empty:
        return mask, text
    key = ["_import", "_file", "_row"]
    own = state.df[key].astype("string").reset_index(drop=True)
    own["_pos"] = range(len(own))
    hit = frame.loc[flagged, key].astype("string")
    hit["_message"] = message[flagged].to_numpy()
    joined = own.merge(hit.drop_duplicates(key), on=key, how="inner")
    positions = joined["_pos"].to_numpy()
    mask.iloc[positions] = True
    text.iloc[positions] = joined["_message"].to_numpy()
    return mask, text


def _e11(ctx: CheckContext) -> list[Hits]:
    keys = (ORG, NAME, CERT, DEPT)
    frame = _group_frame(ctx.staff, keys)
    size = frame.groupby(list(keys), dropna=False)[keys[0]].transform("size")
    flagged = size >= 2
    related = _related_rows(frame, keys, flagged)
    message = (
        "组织机构代码、姓名、执业证书编码、所在科室与"
        + related
        + "完全一致，疑似重复，请删除多余的行"
    )
    return [_institution_group_hits(ctx, flagged, message, "|".join(keys))]


def _institution_group_hits(
    ctx: CheckContext, flagged: pd.Series, message: pd.Series, cells: str
) -> Hits:
    """Hits of a group rule within the institution (E11, E14): the ``flagged`` rows of the
    staff group frame (indexed like the staff table) with their messages."""
    rows = flagged[flagged].index
    mask = pd.Series(False, index=ctx.staff.df.index)
    mask.loc[rows] = True
    text = pd.Series("", index=ctx.staff.df.index, dtype="object")
    text.loc[rows] = message.loc[rows]
    return Hits("staff", mask, "", text, cells=cells)


def _e12(ctx: CheckContext) -> list[Hits]:
    keys = (NAME, CERT, CUTOFF)
    frame = _group_frame(ctx.all_staff, (*keys, ORG, DEPT))
    frame["_pair"] = frame[ORG].astype("string") + "\x1f" + frame[DEPT].astype("string")
    spans = frame.groupby(list(keys), dropna=False)["_pair"].transform("nunique")
    flagged = spans >= 2
    related = _related_rows(frame, keys, flagged, differ="_pair")
    message = (
        "姓名、执业证书编码、提取工作量数据截止时间与"
        + related
        + "（不同机构或科室）一致，请区分提取工作量数据截止时间"
    )
    mask, text = _on_own_rows(ctx, frame, flagged, message)
    return [Hits("staff", mask, "", text, cells=f"{NAME}|{CERT}|{CUTOFF}")]


def _e13(ctx: CheckContext) -> list[Hits]:
    frame = _group_frame(ctx.all_staff, (CERT, NAME))
    flagged = frame.groupby(CERT)[NAME].transform("nunique") >= 2
    related = _related_rows(frame, (CERT,), flagged, differ=NAME)
    message = "执业证书编码与" + related + "相同但姓名不同，请确认执业证书编码或姓名"
    mask, text = _on_own_rows(ctx, frame, flagged, message)
    return [Hits("staff", mask, "", text, cells=f"{CERT}|{NAME}")]


def _e14(ctx: CheckContext) -> list[Hits]:
    keys = (ORG, DEPT, NAME)
    frame = _group_frame(ctx.staff, (*keys, CERT))
    flagged = frame.groupby(list(keys))[CERT].transform("nunique") >= 2
    related = _related_rows(frame, keys, flagged, differ=CERT)
    message = (
        "与"
        + related
        + "同机构、同科室、同名，但执业证书编码不同；请以“姓名+数字”区分（申报表和病案中同时修改）"
    )
    return [_institution_group_hits(ctx, flagged, message, f"{ORG}|{DEPT}|{NAME}")]


def _w11(ctx: CheckContext) -> list[Hits]:
    from cwdx.matching import department_known

    state = ctx.staff
    ok = state.valid(ORG) & state.valid(DEPT)
    mask = ok & ~department_known(ctx.cases.df, state.df).astype(bool)
    message = pd.Series("", index=state.df.index, dtype="object")
    if mask.any():
        _ensure_matching(ctx)
        default = "申报人员的所在科室在本机构病案首页的出院科别中未出现"
        message.loc[mask] = ctx.explain.loc[mask].where(ctx.explain.loc[mask] != "", default)
    return [Hits("staff", mask, "", message, cells=DEPT)]


def _w12(ctx: CheckContext) -> list[Hits]:
    state = ctx.staff
    errors = (
        ctx.error_rows if ctx.error_rows is not None else pd.Series(False, index=state.df.index)
    )
    candidates = ~errors
    mask = pd.Series(False, index=state.df.index)
    message = pd.Series("", index=state.df.index, dtype="object")
    if candidates.any():
        _ensure_matching(ctx)
        mask = candidates & ~ctx.matched
        default = "在病案首页中未匹配到该申报人员"
        message.loc[mask] = ctx.explain.loc[mask].where(ctx.explain.loc[mask] != "", default)
    return [Hits("staff", mask, "", message, cells=f"{NAME}|{DEPT}|{APPOINTED}|{CUTOFF}")]


def _ensure_matching(ctx: CheckContext) -> None:
    """Ask :mod:`cwdx.matching` (shared with the indicators) which applicants match and why not."""
    if ctx.matched is not None:
        return
    from cwdx.matching import case_view, explain, match_staff

    cases, staff = ctx.cases.df, ctx.staff.df
    view = case_view(cases, ctx.reference)  # parse the case frame once for both calls
    counts = match_staff(cases, staff, ctx.reference, view=view)
    lines = explain(cases, staff, ctx.reference, counts, view=view)
    # both set together: a crash above must not leave W12 with ``matched`` but no ``explain``
    ctx.matched = counts["matched"].astype(bool)
    ctx.explain = lines.astype("object").fillna("")


# --------------------------------------------------------------------------- the catalogue


def _codes_advice(reference: Reference, column: str) -> str:
    """Advice of a staff code column (E06, E07, E08, W10): its codes, never words."""
    listed = code_list(reference, reference.column("staff", column).domain)
    codes = f"（{listed}）" if listed else ""
    return f"“{column}”必须填写规定的数字代码{codes}，不能填写文字。"


def _build() -> dict[str, Rule]:
    from cwdx.reference import load_reference

    ref = load_reference()
    c = "cases"
    s = "staff"
    spec = [
        # id, severity, table, unit, message, advice, columns, func
        (
            "E01",
            "error",
            s,
            "cell",
            f"{STAFF}中，字段为空，共有**个字段。",
            "申报人员信息自然表的所有字段均为必填项。请根据反馈表中标注的空白单元格逐一补充填写。",
            "*",
            _empty_rule(s, lambda st: list(st.specs), "此字段必填，请补充填写"),
        ),
        (
            "E02",
            "error",
            s,
            "cell",
            f"{STAFF}中，字段格式存在错误，共有**个字段。",
            "请按表样“填写说明”中各列的格式要求逐一修改标注的单元格（组织机构代码只能包含英文字母、数字和“-”，执业证书编码只能包含英文字母和数字，日期应为有效日期，姓名等文字不得超过规定长度）。",
            "E02",
            _cell_rule("E02", s),
        ),
        (
            "E03",
            "error",
            s,
            "cell",
            f"{STAFF}中的申报人员的“申报专业”，不在规定取值范围内（参见《申报人员信息自然表-申报专业列表》），共有**个字段。",
            "“申报专业”必须是《申报人员信息自然表-申报专业列表》中的名称之一；如申报人员的专业确实不在列表中，请将该申报人员从表中删除。",
            (SPECIALTY,),
            _cell_rule("E03", s),
        ),
        (
            "E04",
            "error",
            s,
            "cell",
            f"{STAFF}中的申报人员的“申报专业”，与申报人员类型不匹配（参见《申报人员信息自然表-申报专业列表》），共有**个字段。",
            "临床医学类申报专业的“人员类别”应为医师（1），护理类申报专业的“人员类别”应为护士（2）。请核对申报专业或人员类别。",
            (SPECIALTY, KIND),
            _e04,
        ),
        (
            "E05",
            "error",
            s,
            "cell",
            f"{STAFF}中的申报人员的“所在科室”，不在规定取值范围内（参见《病案首页数据表样-RC023》），共有**个字段。",
            "“所在科室”必须填写RC023科室代码（如 03.04），并与该申报人员所管患者病案首页中的“出院科别”代码一致。",
            (DEPT,),
            _cell_rule("E05", s),
        ),
        (
            "E06",
            "error",
            s,
            "cell",
            f"{STAFF}中的申报人员的“性别”，不在规定取值范围内（参见《申报人员信息自然表-性别》），共有**个字段。",
            _codes_advice(ref, "性别"),
            ("性别",),
            _cell_rule("E06", s),
        ),
        (
            "E07",
            "error",
            s,
            "cell",
            f"{STAFF}中的申报人员的“拟申报级别”，不在规定取值范围内（参见《申报人员信息自然表-拟申报级别》），共有**个字段。",
            _codes_advice(ref, "拟申报级别"),
            ("拟申报级别",),
            _cell_rule("E07", s),
        ),
        (
            "E08",
            "error",
            s,
            "cell",
            f"{STAFF}中的“人员类别”，不在规定取值范围内（参见《申报人员信息自然表-人员类别》），共有**个字段。",
            _codes_advice(ref, KIND),
            (KIND,),
            _cell_rule("E08", s),
        ),
        (
            "E09",
            "error",
            s,
            "row",
            f"{STAFF}中，“现专业技术职务聘任时间”早于18岁，共有**条记录。",
            "现专业技术职务聘任时间不能早于申报人员年满18周岁之日，请核对“出生日期”和“现专业技术职务聘任时间”。",
            (BIRTH, APPOINTED),
            _e09,
        ),
        (
            "E10",
            "error",
            s,
            "row",
            f"{STAFF}中提取工作量数据截止时间早于现专业技术职务聘任时间，共有**条记录。",
            "“提取工作量数据截止时间”不能早于“现专业技术职务聘任时间”，请核对这两个日期。",
            (APPOINTED, CUTOFF),
            _e10,
        ),
        (
            "E11",
            "error",
            s,
            "row",
            f"{STAFF}中，组织机构代码、姓名、执业证书编码、科室完全一致的共有**条记录，疑似重复。",
            "组织机构代码、姓名、执业证书编码、所在科室完全一致的记录属于重复记录，请删除多余的行。",
            (ORG, NAME, CERT, DEPT),
            _e11,
        ),
        (
            "E12",
            "error",
            s,
            "row",
            f"{STAFF}中，存在姓名、执业证书编码、提取工作量数据截止时间均一致的**条记录，请对跨科室、跨机构人员的提取工作量数据截止时间字段加以区分。",
            "同一人员可以在多个机构或科室各有一行，但每一行的“提取工作量数据截止时间”必须不同，请加以区分。",
            (NAME, CERT, CUTOFF, ORG, DEPT),
            _e12,
        ),
        (
            "E13",
            "error",
            s,
            "row",
            f"{STAFF}中，存在同一执业证书编码，对应多个不同姓名的**条记录，请对执业证书编码的唯一性进行确认。",
            "一个执业证书编码只属于一个人，请更正执业证书编码或姓名。",
            (CERT, NAME),
            _e13,
        ),
        (
            "E14",
            "error",
            s,
            "person",
            f"{STAFF}中对于同医院同科室同名人员，需要在病案信息中予以区分，共有**人。如不处理，所有重名人员都将不参与计算。",
            "同一科室的同名申报人员在病案中无法区分。请将其中一人改名，如“张三”改为“张三1”，并在申报人员表和该医师所管患者的病案首页中同时修改；一律采用“姓名+数字”的形式。",
            (ORG, DEPT, NAME, CERT),
            _e14,
        ),
        (
            "E15",
            "error",
            c,
            "cell",
            "病案首页信息中，字段格式存在错误，共有**个字段。",
            "请按表样“填写说明”中各列的格式、取值范围和长度要求逐一修改标注的单元格；出院时间不能早于入院时间。",
            "E15",
            _cell_rule("E15", c),
        ),
        (
            "E16",
            "error",
            c,
            "cell",
            "病案首页信息中，字段为空，共有**个字段。",
            "组织机构代码、医疗机构名称、病案号、入院时间为必填字段，请根据反馈表补充填写。",
            (ORG, "医疗机构名称", CASE_NO, ADMIT),
            _empty_rule(
                c,
                lambda st: [n for n, sp in st.specs.items() if sp.required],
                "此字段必填，请补充填写",
            ),
        ),
        (
            "W01",
            "warning",
            c,
            "row",
            "病案首页信息中，共有**条记录无医师姓名，无法匹配。",
            "缺少医师姓名的病案无法计入任何医师的工作量，请补充填写，或确认后保持不变。",
            DOCTORS,
            _empty_row_rule(DOCTORS, "无法匹配到医师，请补充填写"),
        ),
        (
            "W02",
            "warning",
            c,
            "row",
            "病案首页信息中，共有**条记录无护士姓名，无法匹配。",
            "缺少护士姓名的病案无法计入任何护士的工作量，请补充填写，或确认后保持不变。",
            NURSES,
            _empty_row_rule(NURSES, "无法匹配到护士，请补充填写"),
        ),
        (
            "W03",
            "warning",
            c,
            "row",
            "病案首页信息中，出院主要诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），共有**条记录，占**%。",
            "出院主要诊断编码不在《疾病分类与代码国家临床版2.0》中的病案不参与指标计算，请更正编码。",
            (MAIN_DIAG,),
            _cell_rule("W03", c),
        ),
        (
            "W04",
            "warning",
            c,
            "row",
            '病案首页信息中，"其他手术操作编码"不符合要求（请参考《手术操作分类代码国家临床版3.0》），共有**个记录。',
            "编码不在《手术操作分类代码国家临床版3.0》中的手术操作不参与指标计算，请更正编码。",
            OTHER_PROCS,
            _code_list_rows(OTHER_PROCS, "《手术操作分类代码国家临床版3.0》"),
        ),
        (
            "W05",
            "warning",
            c,
            "row",
            "病案首页信息中，主要手术操作编码不符合要求（请参考《手术操作分类代码国家临床版3.0》），共有**条记录，占**%。",
            "编码不在《手术操作分类代码国家临床版3.0》中的主要手术操作不参与指标计算，请更正编码。",
            (MAIN_PROC,),
            _cell_rule("W05", c),
        ),
        (
            "W06",
            "warning",
            c,
            "row",
            "病案首页信息中，存在手术记录，但术者为空，共有**条记录，占**%。",
            "填写了手术操作编码的手术操作必须填写术者，请补充填写。",
            tuple(surgeon for _, surgeon in PROC_SLOTS),
            _w06,
        ),
        (
            "W07",
            "warning",
            c,
            "row",
            "病案首页信息中，“出院科别”不在规定取值范围（参见《病案首页数据表样-RC023》），共有**条记录，占**%。",
            "“出院科别”必须填写RC023科室代码（如 03.04）。",
            (DISCHARGE_DEPT,),
            _cell_rule("W07", c),
        ),
        (
            "W08",
            "warning",
            c,
            "cell",
            "病案首页信息中，重要计算字段为空，共有**个字段。",
            "这些字段用于指标计算，缺失会使申报人员的工作量统计偏少，请尽量补充填写。",
            (
                DISCHARGE,
                "年龄（岁）",
                DISCHARGE_DEPT,
                MAIN_DIAG,
                *DOCTORS,
                *NURSES,
                "主要手术操作术者",
                "主要手术操作Ⅰ助",
            ),
            _w08,
        ),
        (
            "W09",
            "warning",
            c,
            "row",
            "病案首页信息中，组织机构代码、病案号、入院时间、出院主要诊断编码完全一致，共有**条记录，系统判定为重复记录并已移除。",
            "重复记录只保留导入顺序中的第一条，其余不参与计算。请查看反馈表；如确属重复，无需处理。",
            (ORG, CASE_NO, ADMIT, MAIN_DIAG),
            _w09,
        ),
        (
            "W10",
            "warning",
            s,
            "cell",
            '《申报人员信息自然表》中的申报人员的"学历"，不在规定取值范围内（参见《申报人员信息自然表 - 学历》），共有**条记录。',
            _codes_advice(ref, "学历"),
            ("学历",),
            _cell_rule("W10", s),
        ),
        (
            "W11",
            "warning",
            s,
            "person",
            f"{STAFF}中的申报人员所属科室，在病案首页信息中未找到，共有*人。",
            "该申报人员的“所在科室”从未作为本机构病案首页的“出院科别”出现，因此找不到其工作量。请使两者的科室代码一致。",
            (ORG, DEPT),
            _w11,
        ),
        (
            "W12",
            "warning",
            s,
            "person",
            f"{STAFF}中的申报人员组织机构代码+姓名+科室+评价周期，在病案首页信息中未匹配到，共有*人。",
            "本机构该科室在评价周期内没有任何病案以该申报人员的姓名出现。请核对姓名写法、科室代码以及聘任时间和截止时间；“问题说明”给出了最接近的未匹配原因。",
            (ORG, NAME, DEPT, APPOINTED, CUTOFF),
            _w12,
        ),
        (
            "X01",
            "warning",
            c,
            "row",
            "病案首页信息中，出院其他诊断编码不符合要求（请参考《疾病分类与代码国家临床版2.0》），共有**条记录。",
            "不在《疾病分类与代码国家临床版2.0》中的出院其他诊断在统计并发症时不予计入，请更正编码。",
            OTHER_DIAGS,
            _code_list_rows(OTHER_DIAGS, "《疾病分类与代码国家临床版2.0》"),
        ),
    ]
    rules: dict[str, Rule] = {}
    for rid, sev, table, unit, message, advice, columns, func in spec:
        if isinstance(columns, str):
            columns = _columns_of(table, rid if columns != "*" else "")
        rules[rid] = Rule(rid, sev, table, unit, message, advice, tuple(columns), func)
    return rules


def _columns_of(table: TableName, rule_id: str) -> tuple[str, ...]:
    from cwdx.reference import load_reference

    reference = load_reference()
    specs = reference.columns(table)
    if not rule_id:
        return tuple(s.name for s in specs)
    return tuple(s.name for s in specs if rule_id in s.rules or (s.max_length and rule_id == "E15"))


#: Every rule by id, in the order E01..E16, W01..W12, X01.
RULES: dict[str, Rule] = dict(sorted(_build().items(), key=lambda kv: (kv[0][0] == "X", kv[0])))
#: The 29 rule ids in catalogue order.
RULE_IDS: tuple[str, ...] = tuple(RULES)


def severity_total(counts: dict[str, int], severity: Severity) -> int:
    """The sum of the counts of the rules of one severity (``"error"``/``"warning"``); ids
    that are not rules are ignored."""
    return sum(
        int(n) for rid, n in counts.items() if rid in RULES and RULES[rid].severity == severity
    )


def rules_for(table: TableName) -> list[Rule]:
    """The rules reporting on ``table`` in catalogue order."""
    return [rule for rule in RULES.values() if rule.table == table]
