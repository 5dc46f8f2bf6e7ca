"""监控: CPU, memory and disk of the machine and of each Dask worker, from the numbers the
dispatcher writes every few seconds (:func:`cwdx.tasks.monitor_snapshot`), with a short
history chart (inline SVG, no outside assets) and the Dask dashboard link."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from typing import Any

import ipyvuetify as v

log = logging.getLogger("cwdx.app")

#: Numbers of a snapshot as the page names them (key -> label, unit).
FIELDS: dict[str, tuple[str, str]] = {
    "cpu": ("CPU", "%"),
    "memory": ("内存", "%"),
    "memory_used": ("内存已用", "GB"),
    "memory_total": ("内存总量", "GB"),
    "disk": ("磁盘", "%"),
    "disk_free": ("磁盘可用", "GB"),
    "threads": ("线程", ""),
    "tasks": ("执行中的任务片", ""),
}


def _number(value: Any, unit: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if unit == "GB" and value > 1024**2:  # bytes
        value = value / 1024**3
    text = f"{value:.1f}" if isinstance(value, float) else f"{value:,}"
    return f"{text} {unit}".strip()


def sparkline(
    values: Sequence[Any], *, width: int = 240, height: int = 40, top: float = 100.0
) -> str:
    """A small SVG line chart of ``values`` (0..``top``)."""
    vals = [float(x) for x in values if isinstance(x, (int, float))]
    if len(vals) < 2:
        return f'<svg class="cwdx-spark" width="{width}" height="{height}"></svg>'
    top = max(top, max(vals)) or 1.0
    step = width / (len(vals) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - v_ / top * (height - 2) - 1:.1f}" for i, v_ in enumerate(vals)
    )
    return (
        f'<svg class="cwdx-spark" width="{width}" height="{height}" '
        f'style="background:#f6f8fa;border:1px solid #d0d7de">'
        f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{points}"/></svg>'
    )


def _table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> str:
    keys = [k for k in FIELDS if any(k in r for _n, r in rows)]
    if not rows or not keys:
        return ""
    head = "".join(f"<th>{FIELDS[k][0]}</th>" for k in keys)
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{_number(r.get(k, ''), FIELDS[k][1])}</td>" for k in keys)
        + "</tr>"
        for name, r in rows
    )
    return (
        f'<div class="cwdx-monitor-title">{title}</div>'
        f'<table class="cwdx-monitor-table" border="1" cellpadding="4" style="border-collapse:collapse">'
        f"<tr><th></th>{head}</tr>{body}</table>"
    )


def monitor_html(snapshot: dict[str, Any]) -> str:
    """The 监控 panel's content for one snapshot."""
    if not snapshot:
        return '<div class="cwdx-monitor-empty">后台任务调度进程尚未报告运行数据（调度进程启动后几秒内会出现）。</div>'
    machine = snapshot.get("machine") or {}
    workers = snapshot.get("workers") or {}
    if isinstance(workers, list):
        workers = {str(w.get("name", i)): w for i, w in enumerate(workers)}
    parts = []
    if snapshot.get("time"):
        parts.append(
            f'<div class="text-caption">数据时间：{html.escape(str(snapshot["time"]))}</div>'
        )
    parts.append(_table("本机", [("本机", machine)]) if machine else "")
    if workers:
        parts.append(_table(f"计算进程（{len(workers)} 个）", sorted(workers.items())))
    else:
        parts.append(
            '<div class="cwdx-monitor-title">计算进程：当前没有运行中的计算进程（有任务时启动）。</div>'
        )
    history = snapshot.get("history") or []
    if history:
        cpu = [h.get("cpu") for h in history if isinstance(h, dict)]
        mem = [h.get("memory") for h in history if isinstance(h, dict)]
        parts.append(
            '<div class="cwdx-monitor-history">'
            f"<div>CPU（%）最近 {len(history)} 次</div>{sparkline(cpu)}"
            f"<div>内存（%）</div>{sparkline(mem)}</div>"
        )
    dashboard = snapshot.get("dashboard")
    if dashboard:
        url = html.escape(str(dashboard))
        parts.append(
            f'<div class="cwdx-dashboard">Dask 监控面板（供服务器上的运维人员使用）：'
            f'<a href="{url}" target="_blank" rel="noopener">{url}</a></div>'
        )
    return "".join(parts)


class MonitorPanel:
    """监控: refreshed by the page's poller every few seconds while it is shown."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        import ipywidgets as widgets

        self.snapshot = snapshot
        self.body = widgets.HTML("")
        self.body.add_class("cwdx-monitor")
        self.widget = v.Html(tag="div", children=[self.body])

    def refresh(self) -> None:
        """Read the latest snapshot and show it."""
        try:
            content = monitor_html(self.snapshot() or {})
        except Exception:
            log.exception("读取监控数据失败")
            content = '<div style="color:#b00020">读取监控数据失败，详情已写入日志。</div>'
        if content != self.body.value:
            self.body.value = content
