"""Report charts: matplotlib figures with Chinese fonts, rendered as inline PNG.

Figures are made with :func:`new_figure` (not pyplot: no global state, any backend) under
:func:`chart_rc` (the installed Chinese fonts, an ASCII minus sign). matplotlib is imported
inside the functions: it costs about a second of start-up and only charts need it.
"""

from __future__ import annotations

import base64
import functools
import html
import inspect
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from cwdx.columns import KIND_NURSE, KIND_PHYSICIAN
from cwdx.reports.tables import MIN_GROUP, labelled_applicants

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Chinese fonts tried in order (only installed ones are used, so matplotlib never warns).
CHINESE_FONTS: tuple[str, ...] = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)
FALLBACK_FONT = "DejaVu Sans"

#: Indicators shown as distribution charts (physicians, nurses).
PHYSICIAN_CHART_INDICATORS: tuple[str, ...] = ("出院患者人数", "手术例数", "平均住院日", "次均费用")
NURSE_CHART_INDICATORS: tuple[str, ...] = ("责任护理出院患者人数", "护理患者平均住院日")
#: The charted indicators per 人员类别 code.
CHART_INDICATORS: dict[str, tuple[str, ...]] = {
    KIND_PHYSICIAN: PHYSICIAN_CHART_INDICATORS,
    KIND_NURSE: NURSE_CHART_INDICATORS,
}


def chart_rc() -> dict[Any, Any]:
    """matplotlib settings for Chinese text: the installed Chinese fonts first, then a
    fallback font, and an ASCII minus sign (CJK fonts lack U+2212)."""
    # lazy: matplotlib costs ~1 s of start-up (measured), and only reports with charts need it
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    families = [name for name in CHINESE_FONTS if name in installed] + [FALLBACK_FONT]
    return {"font.family": families, "axes.unicode_minus": False, "figure.dpi": 100}


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure that is not tied to pyplot (no global state, any backend)."""
    # lazy: matplotlib costs ~1 s of start-up (measured), and only reports with charts need it
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_html(figure: Figure) -> str:
    """A figure as an inline PNG ``<img>`` (rendered with :func:`chart_rc`)."""
    # lazy: matplotlib costs ~1 s of start-up (measured), and only reports with charts need it
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(chart_rc()):
        figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    # Figure.get_suptitle() only exists since matplotlib 3.8 (we accept 3.7)
    title_artist = getattr(figure, "_suptitle", None)
    suptitle = title_artist.get_text() if title_artist else ""
    alt = suptitle or next((ax.get_title() for ax in figure.axes), "") or "图表"
    return f"<img alt='{html.escape(alt, quote=True)}' src='data:image/png;base64,{data}'/>"


def rule_bar_chart(frame: pd.DataFrame, title: str) -> Figure | None:
    """Horizontal bars of 问题数 by 规则编号 (errors red, warnings orange); None when empty."""
    if frame.empty:
        return None
    # lazy: matplotlib costs ~1 s of start-up (measured), and only reports with charts need it
    import matplotlib
    from matplotlib.patches import Patch

    data = frame.iloc[::-1]
    with matplotlib.rc_context(chart_rc()):
        figure = new_figure(8, max(2.0, 0.32 * len(data) + 1))
        ax = figure.add_subplot()
        colors = ["#d9534f" if level == "错误" else "#f0ad4e" for level in data["级别"]]
        bars = ax.barh(data["规则编号"].astype(str), data["问题数"].astype(int), color=colors)
        ax.bar_label(bars, padding=2, fontsize=8)
        levels = set(data["级别"])
        handles = [
            Patch(color=color, label=label)
            for label, color in (("错误", "#d9534f"), ("警告", "#f0ad4e"))
            if label in levels
        ]
        ax.legend(handles=handles, loc="lower right")
        ax.set_xlabel("问题数")
        ax.set_title(title)
    return figure


@functools.cache
def _horizontal_boxes() -> dict[str, Any]:
    """``boxplot`` keyword for horizontal boxes (``orientation`` since matplotlib 3.10)."""
    # lazy: matplotlib costs ~1 s of start-up (measured), and only reports with charts need it
    from matplotlib.axes import Axes

    if "orientation" in inspect.signature(Axes.boxplot).parameters:
        return {"orientation": "horizontal"}
    return {"vert": False}


def box_plots(
    summary: pd.DataFrame, by: str, indicators: Sequence[str], title: str
) -> Figure | None:
    """Horizontal distribution charts of ``indicators`` grouped by column ``by``: one panel
    per indicator side by side, one row per group (labelled ``名称（n 人）``, groups in name
    order; groups without any value in any panel are left out). A group with at least
    :data:`~cwdx.reports.tables.MIN_GROUP` values in a panel gets a box plot (whiskers at 1.5
    IQR, the points beyond them drawn); a smaller group shows each value as a point, since
    quartiles of two or three values mean nothing. Each box and each set of points carries the
    gid ``box:<group>`` / ``points:<group>``. None when no indicator has a value. Horizontal
    so that the ~60 申报专业 of a province stay readable."""
    # lazy: matplotlib costs ~1 s of start-up (measured), and only reports with charts need it
    import matplotlib

    frame = labelled_applicants(summary)
    groups = frame[by].fillna("（空）").astype(str) if by in frame else pd.Series(dtype=str)
    panels: list[tuple[str, pd.Series]] = []
    for indicator in indicators:
        if indicator in frame:
            values = pd.to_numeric(frame[indicator], errors="coerce").astype("float64")
            if values.notna().any():
                panels.append((indicator, values))
    if not panels:
        return None
    names = sorted({g for _, v in panels for g in groups[v.notna()]}, reverse=True)
    sizes = groups.value_counts()
    with matplotlib.rc_context(chart_rc()):
        figure = new_figure(2.0 + 3.2 * len(panels), 1.4 + 0.32 * len(names))
        axes = figure.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, (indicator, values) in zip(axes, panels, strict=True):
            for position, name in enumerate(names, start=1):
                _draw_group(ax, values[groups == name].dropna().to_numpy(), position, name)
            ax.set_title(indicator, fontsize=10)
            ax.grid(axis="x", alpha=0.3)
            ax.tick_params(axis="x", labelsize=8)
        axes[0].set_ylim(0.4, len(names) + 0.6)
        axes[0].set_yticks(
            range(1, len(names) + 1), [f"{name}（{sizes.get(name, 0)} 人）" for name in names]
        )
        figure.suptitle(title)
    return figure


def _draw_group(ax: Any, data: Any, position: int, name: str) -> None:
    """One group's values on row ``position``: a box plot from :data:`MIN_GROUP` values on,
    otherwise one point per value (nothing when there is no value)."""
    if len(data) >= MIN_GROUP:
        parts = ax.boxplot(
            [data], positions=[position], widths=0.6, manage_ticks=False, **_horizontal_boxes()
        )
        for box in parts["boxes"]:
            box.set_gid(f"box:{name}")
    elif len(data):
        (points,) = ax.plot(
            data, [position] * len(data), linestyle="none", marker="o", markersize=4,
            color="#1f5fa8", alpha=0.8,
        )  # fmt: skip
        points.set_gid(f"points:{name}")
