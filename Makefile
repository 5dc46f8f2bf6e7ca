# cwdx: two commands do everything on a fresh machine.
#   make app   serve the 机构版 app on a demo workspace
#   make platform  serve the 平台版 on a demo province (prints its operator's password once)
#   make test  install everything and run the whole test suite
# The venv gets the versions pinned in constraints.txt (the ones the suite passed with); see
# README (“更新依赖版本”) for how to refresh them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_DATA ?= demo-data
DEMO_WS ?= demo-workspace
PORT ?= 8866
PLATFORM_DATA ?= demo-platform-data
PLATFORM_WS ?= demo-platform
PLATFORM_PORT ?= 8867

.PHONY: app platform test install system-deps demo lint typecheck wheel bench screenshots clean

$(VENV)/.installed: pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages the browser tests and screenshots need.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei; \
	fi

lint: install
	$(VENV)/bin/ruff check cwdx widgets tests benchmarks tools setup.py
	$(VENV)/bin/ruff format --check cwdx widgets tests benchmarks tools setup.py

# mypy over cwdx/ and widgets/ ([tool.mypy] in pyproject.toml)
typecheck: install
	$(VENV)/bin/mypy

test: install system-deps lint typecheck
	$(PY) -m pytest -q

# the wheel a regular install uses (dist/cwdx-*.whl)
wheel: install
	$(PY) -m pip wheel --quiet --no-deps . -w dist

# Demo data for three institutions; the demo workspace starts with the first one (it carries
# planted problems of every rule). The other institutions' files can be uploaded in the page.
demo: install
	@if [ ! -f $(DEMO_DATA)/demo_manifest.json ]; then $(VENV)/bin/cwdx demo $(DEMO_DATA); fi
	@if [ ! -f $(DEMO_WS)/cwdx.sqlite ]; then \
		first=$$(ls -d $(DEMO_DATA)/*/ | head -n 1); \
		$(VENV)/bin/cwdx -w $(DEMO_WS) import cases "$$first"病案首页数据-1.xlsx "$$first"病案首页数据-2.xlsx && \
		$(VENV)/bin/cwdx -w $(DEMO_WS) import staff "$$first"申报人员信息.xlsx; \
	fi

app: install demo
	$(VENV)/bin/cwdx app institution --workspace $(DEMO_WS) --port $(PORT)

# The 平台版 on a demo province: five demo institutions' workbooks in the workspace's inbox/
# (import them from the page), one operator account whose password is printed the first time.
platform: install
	$(PY) tools/platform_demo.py $(PLATFORM_DATA) $(PLATFORM_WS)
	$(VENV)/bin/cwdx app platform --workspace $(PLATFORM_WS) --port $(PLATFORM_PORT)

# The province benchmark (quick size: 20 institutions × 5,000 rows at 1×, 2× and 4×) caches its
# demo data in ~/.cache/cwdx-bench; the full size: benchmarks/bench_province.py --size full.
bench: install
	$(PY) benchmarks/bench_import.py
	$(PY) benchmarks/bench_compute.py
	$(PY) benchmarks/bench_province.py --size quick
	$(PY) benchmarks/bench_page.py

# The README's screenshots of both editions (docs/screenshot-*.png), on temporary demo workspaces.
screenshots: install system-deps
	$(PY) tools/screenshots.py

clean:
	rm -rf $(VENV) $(DEMO_DATA) $(DEMO_WS) $(PLATFORM_DATA) $(PLATFORM_WS)
