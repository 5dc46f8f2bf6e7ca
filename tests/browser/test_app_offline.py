"""No request of the app's page leaves the machine (hospital PCs often have no internet)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from page_helper import close_dialog, open_app, open_log_dialog, show_tab

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def test_page_and_a_small_flow_request_nothing_from_other_hosts(start_app, page) -> None:
    app = start_app()
    elsewhere: list[str] = []

    def note(request) -> None:
        address = urlsplit(request.url)
        if address.scheme in ("http", "https", "ws", "wss") and address.hostname not in (
            LOCAL_HOSTS
        ):
            elsewhere.append(request.url)

    page.on("request", note)
    page.context.on("request", note)  # service workers, pop-ups
    open_app(page, app.url)
    # a small flow: a download, the log panel, a page reload
    with page.expect_download() as download:
        page.locator("button.cwdx-template-cases").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    open_log_dialog(page)
    close_dialog(page, ".cwdx-log-section")
    # every tab once: their panes (tables, chips, icons) load nothing from elsewhere either
    for key in ("import", "check", "compute", "templates"):
        show_tab(page, key)
    page.reload(wait_until="commit")
    page.locator("button.cwdx-template-cases:not([disabled])").wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    assert elsewhere == []
    # the icons still come from the page's own FontAwesome (bundled in voila-style.js) and
    # Material Design Icons (bundled with ipyvuetify), and their fonts are loaded
    family = page.evaluate(
        "() => { const i = document.querySelector('i.fa'); return i &&"
        " getComputedStyle(i, '::before').fontFamily; }"
    )
    assert family is None or "Font Awesome" in family
    mdi = page.evaluate(
        "() => { const i = document.querySelector('.cwdx-appbar i.mdi'); return i &&"
        " getComputedStyle(i, '::before').fontFamily; }"
    )
    assert mdi is not None and "Material Design Icons" in mdi
    assert page.evaluate("() => document.fonts.check('16px \"Material Design Icons\"')")
