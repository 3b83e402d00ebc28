# The two commands a new user runs: `make demo` and `make test`. Both set the machine up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export FASTDDS_BUILTIN_TRANSPORTS ?= LARGE_DATA

.PHONY: setup demo test bench clean rehearse

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/robot-rl quickstart --out runs/quickstart

test: setup
	PY=$(PY) bash scripts/run_tests.sh

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache

# The sim-to-real rehearsal (docs/rehearsal.md): trains the quickstart first if its checkpoint is missing.
rehearse: setup
	$(VENV)/bin/robot-rl rehearse configs/rehearsal.yaml --out runs/rehearsal
