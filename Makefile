# The two commands users and CI run. Both set up what is missing (the venv,
# Mosquitto and InfluxDB), start the servers on loopback with data under
# .run/, and stop what they started.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The uv release `make lock` resolves with (installed into .run/lock-tools).
UV_VERSION := 0.13.10

.PHONY: test test-future lock demo bench chaos fuzz servers-start servers-stop clean

# The venv holds exactly requirements.lock (docs/dependencies.md).
$(STAMP): pyproject.toml requirements.lock devtools/bootstrap.sh devtools/lock.py
	PYTHON=$(PYTHON) VENV=$(VENV) sh devtools/bootstrap.sh

# Regenerate the lock from pyproject.toml (needs PyPI); commit both together.
lock:
	@test -x .run/lock-tools/bin/uv || { $(PYTHON) -m venv .run/lock-tools && \
	  .run/lock-tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); }
	$(PYTHON) devtools/lock.py compile --uv .run/lock-tools/bin/uv

# tests/conftest.py starts its own servers on free ports and stops them.
test: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.browser ensure
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite 400 days ahead (libfaketime), to prove no test depends on
# the calendar. Everything is installed at the real date first: apt refuses
# package lists that look expired from the future. devtools/faketime_site
# works around libfaketime's time.sleep bug (see its docstring).
test-future: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.browser ensure
	$(PY) -m devtools.future ensure
	PYTHONPATH=$(CURDIR)/devtools/faketime_site FAKETIME_DONT_FAKE_MONOTONIC=1 \
	  faketime -f '+400d' $(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.demo

bench: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) bench/ingest_bench.py
	$(PY) bench/nodered_bench.py

# The fault drill (docs/recovery.md): its own servers, about 5 minutes; not part of `make test`.
chaos: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.chaos

# The long fuzzing (docs/fuzzing.md): each instrument parser 1,000,000 frames,
# the hub 10,000 malformed payloads per topic kind; not part of `make test`,
# which runs a short pass (tests/test_fuzz.py). FUZZ_ARGS: e.g. --count 100000.
fuzz: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.fuzz $(FUZZ_ARGS)

servers-start: $(STAMP)
	$(PY) -m devtools.servers start

servers-stop: $(STAMP)
	$(PY) -m devtools.servers stop

clean:
	-$(PY) -m devtools.servers stop
	rm -rf .run
