"""The clean institution's applicants whose indicators are known by construction.

Three people (a 心血管内科 physician, a nurse and a 普通外科 surgeon) get hand-written case
rows (:func:`special_specs`, :func:`special_row`); :func:`special_applicants` adds their staff
rows and computes, from the same specs, the indicators ``cwdx compute`` must give them.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from cwdx.columns import (
    CASE_ADMIT,
    CASE_DISCHARGE,
    CASE_MAIN_DIAG,
    CASE_NO,
    STAFF_END,
    STAFF_LICENSE,
    STAFF_START,
)
from cwdx.demo.manifest import ExpectedApplicant
from cwdx.demo.people import DEPT_BY_CODE, PROTECTED_PER_DEPT, display_icd10
from cwdx.demo.rows import Institution, staff_row
from cwdx.reference import Reference


def _round2(value: Decimal) -> float:
    """``value`` rounded half-up to two decimals, as the indicators are. Deliberately not
    :mod:`cwdx.numbers`: the demo's expected indicators are an oracle worked out apart from the
    engine they check."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _mean(values: list[float]) -> float | None:
    """The mean of ``values`` as an indicator gives it (None when there is none)."""
    if not values:
        return None
    return _round2(sum((Decimal(str(v)) for v in values), Decimal(0)) / len(values))


def _pct(count: int, total: int) -> float | None:
    """``count`` as a percentage of ``total`` (None when ``total`` is 0)."""
    if not total:
        return None
    return _round2(Decimal(count) * 100 / Decimal(total))


def special_specs(inst: Institution) -> list[dict[str, Any]]:
    """Rows built for the known-indicator applicants of the clean institution (and remembered
    on ``inst`` for :func:`special_applicants`)."""
    doc = inst.reserve("欧阳志远")
    nurse = inst.reserve("司马晓雯")
    surgeon = inst.reserve("诸葛明远")
    inst.special_people = (doc, nurse, surgeon)
    doctor_specs = _doctor_specs(doc)
    inst.special_doctor = (doc, doctor_specs[:10])
    nurse_specs = _nurse_specs(nurse)
    inst.special_nurse = (nurse, nurse_specs[:8], nurse_specs[8:11])
    surgeon_specs = _surgeon_specs(surgeon)
    inst.special_surgeon = (surgeon, surgeon_specs)
    return doctor_specs + nurse_specs + surgeon_specs


def _doctor_specs(doc: str) -> list[dict[str, Any]]:
    """Physician ``doc`` (心血管内科, 03.04), window 2024-01-01 .. 2024-12-31, always 主治医师:
    ten rows inside the window, then one just before and one just after it."""
    specs: list[dict[str, Any]] = []
    diags = ["I21.0", "I21.1", "I21.4", "I21.0", "I20.0", "I20.0", "I50.0", "I50.1", "I48", "I48"]
    discharge = [
        dt.datetime(2024, 1, 1, 10, 0),  # first day of the window
        dt.datetime(2024, 2, 12, 9, 30),
        dt.datetime(2024, 3, 20, 15, 0),
        dt.datetime(2024, 5, 8, 11, 0),
        dt.datetime(2024, 6, 18, 16, 20),
        dt.datetime(2024, 7, 30, 10, 10),
        dt.datetime(2024, 9, 2, 9, 0),
        dt.datetime(2024, 10, 15, 14, 0),
        dt.datetime(2024, 11, 26, 10, 0),
        dt.datetime(2024, 12, 31, 18, 0),  # last day of the window
    ]
    los = [5, 7, 6, 12, 4, 3, 9, 8, 6, 10]
    fees = [
        38210.55,
        52630.2,
        41877.1,
        61220.0,
        18440.35,
        9760.8,
        15320.4,
        13980.05,
        11200.0,
        16555.6,
    ]
    leave = ["1", "1", "1", "5", "1", "1", "1", "5", "1", "2"]
    for n in range(10):
        spec: dict[str, Any] = {
            "dept": "03.04",
            "diag": diags[n],
            "discharge": discharge[n],
            "los": los[n],
            "fee": fees[n],
            "leave": leave[n],
            "roles": {"主治医师": doc},
            "procedures": [],
            "other_diags": [],
        }
        if n < 4:
            spec["procedures"].append(("36.06", "4", doc, None))
        if n == 4:
            spec["procedures"].append(("88.56", "3", doc, None))
        if n == 0:
            spec["procedures"].append(("88.56", "3", doc, None))
        if n == 5:  # 欧阳志远 is Ⅰ助 of the chief's procedure
            spec["procedures"].append(("88.56", "2", None, doc))
        if n == 1:
            spec["other_diags"].append(("T81.0", "4"))  # complication arising in hospital
        if n == 2:
            spec["other_diags"].append(("T81.4", "1"))  # present on admission: not counted
        if n == 6:
            spec["other_diags"].append(("I97", "4"))  # no procedure of his: not counted
        specs.append(spec)
    for when in (dt.datetime(2023, 12, 31, 17, 0), dt.datetime(2025, 1, 1, 9, 0)):
        specs.append(
            {
                "dept": "03.04",
                "diag": "I21.0",
                "discharge": when,
                "los": 6,
                "fee": 30000.0,
                "leave": "1",
                "roles": {"主治医师": doc},
                "procedures": [("36.06", "4", doc, None)],
                "other_diags": [],
            }
        )
    return specs


def _nurse_specs(nurse: str) -> list[dict[str, Any]]:
    """Nurse ``nurse`` (内科护理, 03.04), window 2024-01-01 .. 2024-12-31: eight rows as 责任护士,
    three as 质控护师, then two as 责任护士 outside the window."""
    nurse_specs: list[dict[str, Any]] = []
    n_diags = ["I10", "I10", "I25.1", "I48", "I50.0", "I21.0", "I21.1", "I20.0"]
    n_los = [4, 6, 5, 7, 9, 8, 6, 3]
    n_leave = ["1", "1", "1", "1", "5", "1", "1", "1"]
    for n in range(8):
        nurse_specs.append(
            {
                "dept": "03.04",
                "diag": n_diags[n],
                "discharge": dt.datetime(2024, 1 + n, 10 + n, 10, 0),
                "los": n_los[n],
                "fee": 9000.0 + 1000 * n,
                "leave": n_leave[n],
                "roles": {"责任护士": nurse},
                "procedures": [("36.06", "4", None, None)] if n >= 5 else [],
                "other_diags": [],
            }
        )
    for n in range(3):
        nurse_specs.append(
            {
                "dept": "03.04",
                "diag": "I50.1",
                "discharge": dt.datetime(2024, 9, 3 + n, 10, 0),
                "los": 5,
                "fee": 12000.0,
                "leave": "1",
                "roles": {"质控护师": nurse},
                "procedures": [],
                "other_diags": [],
            }
        )
    for when in (dt.datetime(2023, 12, 30, 10, 0), dt.datetime(2025, 2, 1, 10, 0)):
        nurse_specs.append(
            {
                "dept": "03.04",
                "diag": "I10",
                "discharge": when,
                "los": 4,
                "fee": 8000.0,
                "leave": "1",
                "roles": {"责任护士": nurse},
                "procedures": [],
                "other_diags": [],
            }
        )
    return nurse_specs


def _surgeon_specs(surgeon: str) -> list[dict[str, Any]]:
    """Surgeon ``surgeon`` (普通外科, 04.01), window 2023-07-01 .. 2025-06-30, 主（副主）任医师:
    six rows, one with 实际住院 empty and one with the fee empty."""
    g_specs: list[dict[str, Any]] = []
    g_diags = ["K80", "K80", "K81", "K35", "K35", "K40"]
    g_procs: list[tuple[str, str] | None] = [
        ("51.23", "3"), ("51.23", "3"), ("51.2", "3"), ("47.01", "2"), ("47.0", "2"), None
    ]  # fmt: skip
    g_los = [4, 5, None, 3, 4, 2]  # None: 实际住院 empty, LOS from the dates
    g_fees = [21000.0, 23500.5, 19800.0, None, 15200.0, 8800.0]  # None: fee empty
    g_days = [3, 5, 6, 2, 3, 2]  # calendar days between admission and discharge
    for n in range(6):
        proc = g_procs[n]
        g_specs.append(
            {
                "dept": "04.01",
                "diag": g_diags[n],
                "discharge": dt.datetime(2023, 8, 1, 10, 0) + dt.timedelta(days=120 * n),
                "los": g_los[n],
                "days": g_days[n],
                "fee": g_fees[n],
                "leave": "1",
                "roles": {"主（副主）任医师": surgeon},
                "procedures": [(proc[0], proc[1], surgeon, None)] if proc else [],
                "other_diags": [],
            }
        )
    return g_specs


def special_row(inst: Institution, spec: dict[str, Any]) -> dict[str, Any]:
    """A clean row of the spec's department rewritten to what ``spec`` says (dates, LOS,
    diagnosis, fee, 离院方式, the applicant's role, procedures, other diagnoses)."""
    dept = DEPT_BY_CODE[spec["dept"]]
    row = inst.clean_row(dept, PROTECTED_PER_DEPT)  # random team, not protected
    pools = inst.pools
    days = spec.get("days", spec["los"])
    discharge = spec["discharge"]
    # minute 31: base rows use multiples of 5, so (病案号, 入院时间) stays unique
    admit = (discharge - dt.timedelta(days=days)).replace(hour=8, minute=31)
    inst.keys.add((row[CASE_NO], admit))
    diag = pools.diag(spec["diag"])[0]
    row.update(
        {
            CASE_ADMIT: admit,
            CASE_DISCHARGE: discharge,
            "实际住院（天）": spec["los"],
            CASE_MAIN_DIAG: display_icd10(diag),
            "出院主要诊断名称": inst.pools.icd10_names[diag],
            "住院总费用": spec["fee"],
            "离院方式": spec["leave"],
            "_special": True,
        }
    )
    row.update(spec["roles"])
    inst.clear_procedures(row)
    inst.clear_other_diags(row)
    for slot, (prefix, level, surgeon, assistant) in enumerate(spec["procedures"]):
        team = inst.teams[dept.code]
        inst.set_procedure(
            row,
            slot,
            pools.proc(prefix)[0],
            level,
            surgeon or team.chiefs[0],
            assistant or team.residents[0],
            admit + dt.timedelta(hours=3),
        )
    for slot, (prefix, condition) in enumerate(spec["other_diags"], start=1):
        inst.set_other_diag(row, slot, display_icd10(pools.diag(prefix)[0]), condition)
    return row


def special_applicants(inst: Institution) -> None:
    """Staff rows and expected indicators of the clean institution's special applicants."""
    window = ("2024-01-01", "2024-12-31")
    doc = inst.special_doctor[0]
    _add_special_staff(inst, doc, "1", "心血管内科", "03.04", window, _doctor_indicators(inst))
    nurse = inst.special_nurse[0]
    _add_special_staff(inst, nurse, "2", "内科护理", "03.04", window, _nurse_indicators(inst))
    surgeon = inst.special_surgeon[0]
    _add_special_staff(
        inst,
        surgeon,
        "1",
        "普通外科",
        "04.01",
        ("2023-07-01", "2025-06-30"),
        _surgeon_indicators(inst),
    )


def _catalogue(ref: Reference, specialty: str, kind: str) -> list[tuple[str, ...]]:
    """The code prefixes of each 目录病种 / 目录术种 (``kind``) group of ``specialty``."""
    return [g[3] for g in ref.specialty_groups if g[0] == specialty and g[1] == kind]


def _covered(groups: list[tuple[str, ...]], codes: list[str]) -> tuple[int, int]:
    """How many ``groups`` the ``codes`` hit, and how many of the codes fall in any group."""
    hit = sum(1 for prefixes in groups if any(c.startswith(prefixes) for c in codes))
    rows = sum(1 for c in codes if any(c.startswith(p) for prefixes in groups for p in prefixes))
    return hit, rows


def _doctor_indicators(inst: Institution) -> dict[str, Any]:
    """The physician's indicators, by construction from his rows."""
    ref = inst.ref
    doc, specs = inst.special_doctor
    procs = [
        (inst.pools.proc(p[0])[0], p[1], n)
        for n, s in enumerate(specs)
        for p in s["procedures"]
        if p[2] == doc
    ]
    assists = [p for s in specs for p in s["procedures"] if p[3] == doc]
    surgery_rows = {n for _, _, n in procs}
    complication_rows = {
        n
        for n in surgery_rows
        for prefix, cond in specs[n]["other_diags"]
        if cond != "1" and prefix[:3] in ref.complications
    }
    diags = [inst.pools.diag(s["diag"])[0] for s in specs]
    disease_groups = _catalogue(ref, "心血管内科", "病种")
    proc_groups = _catalogue(ref, "心血管内科", "术种")
    d_hit, d_rows = _covered(disease_groups, diags)
    p_hit, p_rows = _covered(proc_groups, [c for c, _, _ in procs])
    deaths = sum(1 for s in specs if s["leave"] == "5")
    fours = sum(1 for _, lv, _ in procs if lv == "4")
    return {
        "出院患者人数": len(specs),
        "作为主（副主）任医师出院人数": 0,
        "作为主治医师出院人数": len(specs),
        "作为住院医师出院人数": 0,
        "出院患者病种数": len({d[:3] for d in diags}),
        "平均住院日": _mean([s["los"] for s in specs]),
        "次均费用": _mean([s["fee"] for s in specs]),
        "死亡人数": deaths,
        "死亡率(%)": _pct(deaths, len(specs)),
        "手术患者人数": len(surgery_rows),
        "手术例数": len(procs),
        "三级手术例数": sum(1 for _, lv, _ in procs if lv == "3"),
        "四级手术例数": fours,
        "四级手术占比(%)": _pct(fours, len(procs)),
        "术种数": len({c[:5] for c, _, _ in procs}),
        "作为Ⅰ助手术例数": len(assists),
        "手术患者并发症例数": len(complication_rows),
        "手术患者并发症发生率(%)": _pct(len(complication_rows), len(surgery_rows)),
        **_catalogue_indicators(
            len(disease_groups), d_hit, d_rows, len(proc_groups), p_hit, p_rows
        ),
    }


def _nurse_indicators(inst: Institution) -> dict[str, Any]:
    """The nurse's indicators, by construction from her rows."""
    _, n_specs, q_specs = inst.special_nurse
    return {
        "责任护理出院患者人数": len(n_specs),
        "作为质控护师病例数": len(q_specs),
        "护理患者病种数": len({inst.pools.diag(s["diag"])[0][:3] for s in n_specs}),
        "护理患者平均住院日": _mean([s["los"] for s in n_specs]),
        "护理手术患者人数": sum(1 for s in n_specs if s["procedures"]),
        "护理死亡患者人数": sum(1 for s in n_specs if s["leave"] == "5"),
    }


def _surgeon_indicators(inst: Institution) -> dict[str, Any]:
    """The general surgeon's indicators: LOS from the dates when 实际住院 is empty, the fee
    mean over the filled fees only."""
    ref = inst.ref
    _, g_specs = inst.special_surgeon
    g_procs = [inst.pools.proc(p[0])[0] for s in g_specs for p in s["procedures"]]
    g_levels = [p[1] for s in g_specs for p in s["procedures"]]
    g_diags = [inst.pools.diag(s["diag"])[0] for s in g_specs]
    g_disease = _catalogue(ref, "普通外科", "病种")
    g_proc_groups = _catalogue(ref, "普通外科", "术种")
    gd_hit, gd_rows = _covered(g_disease, g_diags)
    gp_hit, gp_rows = _covered(g_proc_groups, g_procs)
    return {
        "出院患者人数": len(g_specs),
        "作为主（副主）任医师出院人数": len(g_specs),
        "作为主治医师出院人数": 0,
        "作为住院医师出院人数": 0,
        "出院患者病种数": len({d[:3] for d in g_diags}),
        "平均住院日": _mean(
            [s["los"] if s["los"] is not None else max(1, s["days"]) for s in g_specs]
        ),
        "次均费用": _mean([s["fee"] for s in g_specs if s["fee"] is not None]),
        "死亡人数": 0,
        "死亡率(%)": 0.0,
        "手术患者人数": sum(1 for s in g_specs if s["procedures"]),
        "手术例数": len(g_procs),
        "三级手术例数": g_levels.count("3"),
        "四级手术例数": g_levels.count("4"),
        "四级手术占比(%)": _pct(g_levels.count("4"), len(g_procs)),
        "术种数": len({c[:5] for c in g_procs}),
        "作为Ⅰ助手术例数": 0,
        "手术患者并发症例数": 0,
        "手术患者并发症发生率(%)": 0.0,
        **_catalogue_indicators(
            len(g_disease), gd_hit, gd_rows, len(g_proc_groups), gp_hit, gp_rows
        ),
    }


def _catalogue_indicators(
    diseases: int, d_hit: int, d_rows: int, procedures: int, p_hit: int, p_rows: int
) -> dict[str, Any]:
    """The eight 目录病种/目录术种 indicators from the catalogue sizes, groups hit and rows."""
    return {
        "目录病种数": diseases,
        "目录病种覆盖数": d_hit,
        "目录病种覆盖率(%)": _pct(d_hit, diseases),
        "目录病种例数": d_rows,
        "目录术种数": procedures,
        "目录术种覆盖数": p_hit,
        "目录术种覆盖率(%)": _pct(p_hit, procedures),
        "目录术种例数": p_rows,
    }


def _add_special_staff(
    inst: Institution,
    name: str,
    kind: str,
    specialty: str,
    dept: str,
    window: tuple[str, str],
    indicators: dict[str, Any],
) -> None:
    """Add the applicant's staff row (appointed and cut off at ``window``) and manifest entry."""
    row = staff_row(inst, name, dept, kind, specialty, level="2")
    row[STAFF_START] = dt.date.fromisoformat(window[0])
    row[STAFF_END] = dt.date.fromisoformat(window[1])
    inst.staff_rows.append(row)
    inst.applicants.append(
        ExpectedApplicant(
            license=row[STAFF_LICENSE],
            name=name,
            kind=kind,
            specialty=specialty,
            department=dept,
            start=window[0],
            end=window[1],
            indicators=indicators,
        )
    )
