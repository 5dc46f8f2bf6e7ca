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

GB = 1024**3
MB = 1024**2


def _pct(value: Any) -> str:
    return f"{float(value):.1f} %" if isinstance(value, (int, float)) else "—"


def _size(value: Any, unit: int = GB, name: str = "GB") -> str:
    return f"{float(value) / unit:,.1f} {name}" if isinstance(value, (int, float)) else "—"


def _rate(value: Any) -> str:
    return f"{float(value) / MB:,.1f} MB/秒" if isinstance(value, (int, float)) else "—"


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
        f"{i * step:.1f},{height - y / top * (height - 2) - 1:.1f}" for i, y in enumerate(vals)
    )
    return (
        f'<svg class="cwdx-spark" width="{width}" height="{height}" '
        f'style="background:#f6f8fa;border:1px solid #d0d7de">'
        f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{points}"/></svg>'
    )


def _table(css: str, head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<table class="{css}" border="1" cellpadding="4" style="border-collapse:collapse">'
        f"<tr>{th}</tr>{body}</table>"
    )


def monitor_html(snapshot: dict[str, Any]) -> str:
    """The 监控 panel's content for one :func:`cwdx.tasks.monitor_snapshot`."""
    if not snapshot:
        return (
            '<div class="cwdx-monitor-empty">后台任务调度进程尚未报告运行数据'
            "（平台版启动后几秒内会出现；一直没有时请检查调度进程是否在运行）。</div>"
        )
    m = snapshot.get("machine") or {}
    d = snapshot.get("dispatcher") or {}
    parts = [
        f'<div class="cwdx-monitor-time">数据时间：{html.escape(str(snapshot.get("time", "")))}'
        + ("" if snapshot.get("alive", True) else "（调度进程已超过 15 秒未报告，可能已停止）")
        + "</div>",
        '<div class="cwdx-monitor-title">本机与调度进程</div>',
        _table(
            "cwdx-monitor-machine",
            ["", "CPU", "内存", "磁盘（工作区所在）"],
            [
                [
                    f"本机（{m.get('cpu_count', '?')} 核）",
                    _pct(m.get("cpu_percent")),
                    f"{_pct(m.get('memory_percent'))}（{_size(m.get('memory_used'))} / "
                    f"{_size(m.get('memory_total'))}）",
                    f"{_pct(m.get('disk_percent'))}（{_size(m.get('disk_used'))} / "
                    f"{_size(m.get('disk_total'))}）",
                ],
                [
                    f"调度进程（pid {d.get('pid', '?')}）",
                    _pct(d.get("cpu_percent")),
                    _size(d.get("memory_rss"), MB, "MB"),
                    "",
                ],
            ],
        ),
    ]
    workers = snapshot.get("workers") or []
    if workers:
        parts.append(f'<div class="cwdx-monitor-title">计算进程（{len(workers)} 个）</div>')
        parts.append(
            _table(
                "cwdx-monitor-workers",
                ["名称", "主机", "CPU", "内存 / 上限", "执行中", "磁盘读", "磁盘写"],
                [
                    [
                        str(w.get("name", "")),
                        str(w.get("host", "")),
                        _pct(w.get("cpu_percent")),
                        f"{_size(w.get('memory'), MB, 'MB')} / {_size(w.get('memory_limit'))}",
                        str(w.get("executing", 0)),
                        _rate(w.get("disk_read_bps")),
                        _rate(w.get("disk_write_bps")),
                    ]
                    for w in workers
                ],
            )
        )
    else:
        parts.append('<div class="cwdx-monitor-title">计算进程：当前没有（有大任务时启动）。</div>')
    history = [h for h in snapshot.get("history") or [] if isinstance(h, dict)]
    if history:
        parts.append(
            '<div class="cwdx-monitor-history">'
            f"<div>本机 CPU（%），最近 {len(history)} 次</div>"
            f"{sparkline([h.get('cpu_percent') for h in history])}"
            f"<div>本机内存（%）</div>{sparkline([h.get('memory_percent') for h in history])}</div>"
        )
    dashboard = snapshot.get("dashboard")
    if dashboard:
        url = html.escape(str(dashboard))
        parts.append(
            '<div class="cwdx-dashboard">Dask 监控面板（只能在服务器本机打开，供运维人员使用）：'
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
