"""数据导入 of the 平台版: for each table, template download, 上传 (several .xlsx at once), the
list of uploaded files and 提交解析“上传文件”任务; and 导入 inbox 文件夹中的文件 for files too large
for the browser. Uploaded files are only saved (under ``WS/uploads/``); parsing is a task."""

from __future__ import annotations

import html
import tempfile
from collections.abc import Callable
from pathlib import Path

import ipyvuetify as v
import ipywidgets as widgets

from cwdx_widgets.platform.actions import Actions, Submitted
from cwdx_widgets.vue import Download, Downloader, Message

#: The two import panels: table -> title as the seed system names it.
IMPORT_TITLES = {"cases": "导入病案首页数据", "staff": "导入人员表信息"}
TEMPLATE_LABELS = {"cases": "下载病案首页表样", "staff": "下载人员表表样"}


def _template(table: str) -> Download:
    from cwdx.templates import TEMPLATE_FILE_NAMES, write_template  # pandas: on click only

    name = TEMPLATE_FILE_NAMES[table]
    with tempfile.TemporaryDirectory(prefix="cwdx-template-") as tmp:
        path = write_template(table, Path(tmp) / name)  # type: ignore[arg-type]
        return Download(name, path.read_bytes())


class ImportPanel:
    """One table's upload: 上传 saves the files, 提交解析“上传文件”任务 queues their import."""

    def __init__(
        self,
        actions: Actions,
        table: str,
        submitted: Callable[[Submitted], None],
        failed: Callable[[Exception], None],
    ) -> None:
        self.actions = actions
        self.table = table
        self.submitted = submitted
        self.failed = failed
        self.files: list[Path] = []
        self._folder: Path | None = None
        self.alert = Message(f"cwdx-{table}-template-alert")
        self.template = Downloader(
            TEMPLATE_LABELS[table],
            lambda _p: _template(table),
            self.alert,
            f"cwdx-template-{table}",
        )
        self.upload = widgets.FileUpload(accept=".xlsx", multiple=True, description="上传")
        self.upload.add_class(f"cwdx-upload-{table}")
        self.upload.observe(self._uploaded, "value")
        self.listing = widgets.HTML("")
        self.listing.add_class(f"cwdx-uploaded-{table}")
        self.submit = v.Btn(
            color="primary",
            class_=f"cwdx-submit-import-{table} text-none",
            disabled=True,
            children=["提交解析“上传文件”任务"],
        )
        self.submit.on_event("click", lambda *_a: self.submit_clicked())
        self.widget = v.Card(
            variant="outlined",
            class_=f"pa-3 my-2 cwdx-import-{table}",
            children=[
                v.CardTitle(class_="pa-0 pb-2", children=[IMPORT_TITLES[table]]),
                v.Html(
                    tag="div",
                    class_="text-caption",
                    children=[
                        "请按表样整理数据，可一次选择多个 .xlsx 文件；上传后点“提交解析”，解析在后台进行。"
                    ],
                ),
                widgets.HBox([self.template.widget, self.upload]),
                self.alert.widget,
                self.listing,
                self.submit,
            ],
        )
        self._show()

    def _show(self) -> None:
        if not self.files:
            self.listing.value = '<div class="cwdx-note">尚未上传文件。</div>'
        else:
            items = "".join(
                f"<li>{html.escape(p.name)}（{p.stat().st_size / 1024:,.0f} KB）</li>"
                for p in self.files
            )
            self.listing.value = (
                f"<div>已上传 {len(self.files)} 个文件，等待提交解析：</div><ul>{items}</ul>"
            )
        self.submit.disabled = not self.files

    def _uploaded(self, change: dict) -> None:
        values = change["new"] or ()
        if not values:
            return
        try:
            if self._folder is None:
                self._folder = self.actions.upload_folder()
            for item in values:
                self.files.append(
                    self.actions.save_upload(self._folder, item["name"], bytes(item["content"]))
                )
        except Exception as exc:
            self.failed(exc)
        finally:
            self.upload.value = ()  # the next choice starts empty; files are kept on disk
            self._show()

    def add_file(self, name: str, content: bytes) -> None:
        """Upload one file as the browser's 上传 would (for tests and scripts)."""
        self._uploaded({"new": ({"name": name, "content": memoryview(content)},)})

    def submit_clicked(self) -> None:
        """提交解析“上传文件”任务."""
        try:
            done = self.actions.import_uploaded(self.table, self.files)
        except Exception as exc:
            self.failed(exc)
            return
        self.files = []
        self._folder = None
        self._show()
        self.submitted(done)


class InboxPanel:
    """导入 inbox 文件夹中的文件: the files waiting in ``WS/inbox/`` and one button."""

    def __init__(
        self,
        actions: Actions,
        submitted: Callable[[Submitted], None],
        failed: Callable[[Exception], None],
    ) -> None:
        self.actions = actions
        self.submitted = submitted
        self.failed = failed
        self.listing = widgets.HTML("")
        self.listing.add_class("cwdx-inbox-files")
        self.button = v.Btn(
            color="primary",
            class_="cwdx-import-inbox text-none",
            children=["导入 inbox 文件夹中的文件"],
        )
        self.button.on_event("click", lambda *_a: self.clicked())
        inbox = actions.ws.path / "inbox"
        self.widget = v.Card(
            variant="outlined",
            class_="pa-3 my-2 cwdx-inbox",
            children=[
                v.CardTitle(class_="pa-0 pb-2", children=["导入 inbox 文件夹中的文件"]),
                v.Html(
                    tag="div",
                    class_="text-caption",
                    children=[
                        f"超过约 100 MB 的文件请直接放进服务器上的 {inbox} 文件夹。每个文件按表头识别是病案首页"
                        "还是人员表，按文件名顺序导入；导入成功的文件移到 inbox/done/，未导入的文件留在原处并显示原因。"
                    ],
                ),
                self.listing,
                self.button,
            ],
        )
        self.refresh()

    def refresh(self) -> None:
        """List the .xlsx files waiting in the inbox."""
        inbox = self.actions.ws.path / "inbox"
        names = sorted(p.name for p in inbox.glob("*.xlsx")) if inbox.is_dir() else []
        if names:
            shown = "".join(f"<li>{html.escape(n)}</li>" for n in names[:50])
            more = f"<li>……另有 {len(names) - 50} 个</li>" if len(names) > 50 else ""
            self.listing.value = (
                f"<div>inbox 中有 {len(names)} 个文件：</div><ul>{shown}{more}</ul>"
            )
        else:
            self.listing.value = (
                '<div class="cwdx-note">inbox 文件夹中没有等待导入的 .xlsx 文件。</div>'
            )

    def clicked(self) -> None:
        """导入 inbox 文件夹中的文件."""
        try:
            done = self.actions.import_inbox()
        except Exception as exc:
            self.failed(exc)
            return
        self.submitted(done)
