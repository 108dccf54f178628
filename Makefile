# The two commands users and CI run. Both set up what is missing (the venv,
# Mosquitto and InfluxDB), start the servers on loopback with data under
# .run/, and stop what they started.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo bench chaos fuzz servers-start servers-stop clean

$(STAMP): pyproject.toml devtools/bootstrap.sh
	PYTHON=$(PYTHON) VENV=$(VENV) sh devtools/bootstrap.sh

# tests/conftest.py starts its own servers on free ports and stops them.
test: $(STAMP)
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.browser ensure
	$(PY) -m pytest $(PYTEST_ARGS)

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
