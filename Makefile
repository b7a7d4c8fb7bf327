# keras-ssm: set-up, tests and the demo. `make demo` and `make test` do all set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of PyTorch; override e.g. `make test TORCH_SPEC=torch` for a CUDA build.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= all,dev,examples,hub
BACKENDS ?= jax tensorflow torch
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: install lint test test-one demo bench data data-speech clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@# keras-hub's tensorflow-text needs the `tensorflow` wheel; next to `tensorflow-cpu` both
	@# would own the same files (removing either breaks the other): refuse that environment.
	$(PY) -c "import importlib.metadata as m, sys; n = {d.metadata['Name'].lower() for d in m.distributions()}; sys.exit('tensorflow and tensorflow-cpu are both installed in $(VENV) and overwrite each other; pip uninstall -y tensorflow-cpu tensorflow, then make install' if {'tensorflow', 'tensorflow-cpu'} <= n else 0)"
	touch $(STAMP)

install: $(STAMP)

# ruff's lint rules and format (configured in pyproject.toml); `ruff format .` fixes the format.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Lint first, then the suite once per backend, the three at the same time (most of a test's
# time is one backend compiling on one core): each backend's output, with its 25 slowest
# tests, is printed when all have ended; fails if any fails. TEST_JOBS=1 runs them one after
# another instead. jax, the longest, is split over JAX_WORKERS pytest-xdist workers (a test
# file stays on one worker, so module fixtures compile once); JAX_WORKERS=0: one process.
TEST_JOBS ?= 3
JAX_WORKERS ?= 2
test: lint
	@logs=$$(mktemp -d); status=0; \
	run() { case $$1 in jax) n=$(JAX_WORKERS);; *) n=0;; esac; \
	  KERAS_BACKEND=$$1 $(PY) -m pytest -q -p no:cacheprovider --basetemp=$$logs/tmp-$$1 \
	  -n $$n --dist loadfile $(PYTEST_ARGS) > $$logs/$$1.log 2>&1; echo $$? > $$logs/$$1.rc; }; \
	if [ "$(TEST_JOBS)" = 1 ]; then for b in $(BACKENDS); do run $$b; done; \
	else for b in $(BACKENDS); do run $$b & done; wait; fi; \
	for b in $(BACKENDS); do \
	  echo "=== pytest on KERAS_BACKEND=$$b (exit $$(cat $$logs/$$b.rc)) ==="; cat $$logs/$$b.log; \
	  [ "$$(cat $$logs/$$b.rc)" = 0 ] || status=1; \
	done; rm -rf $$logs; exit $$status

# One backend: make test-one BACKEND=torch PYTEST_ARGS="tests/test_dlr.py"
test-one: install
	KERAS_BACKEND=$(BACKEND) $(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) -m examples.synthetic --task shift --model dlr --preset demo --output $${DEMO_OUTPUT:-runs/demo}

# Benchmarks (not part of CI): the ops, then the layers against their peers.
bench: install
	$(PY) -m pip install -q -e ".[bench]"
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) -m benchmarks.ops
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) -m benchmarks.layers

# Fashion-MNIST (the original release files) from Debian's package, where apt-get can run;
# otherwise says what to do. MNIST and CIFAR-10 come from keras.datasets (internet, once).
FASHION_DIR := /usr/share/datasets/fashion-mnist
data:
	@if [ -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST is installed in $(FASHION_DIR)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist && \
	  echo "Fashion-MNIST installed in $(FASHION_DIR)"; \
	else \
	  echo "Fashion-MNIST is not installed. Run as root: apt-get update && apt-get install -y dataset-fashion-mnist"; \
	  echo "(Debian/Ubuntu), or pass --data-dir FOLDER holding the four *-ubyte.gz release files,"; \
	  echo "or let keras.datasets.fashion_mnist.load_data() download them once."; \
	fi
	@echo "Spoken Speech Commands words without the download: make data-speech (espeak-ng, sox)"

# The 35 Speech Commands words spoken by espeak-ng, in the v0.02 layout (docs/data.md).
SPEECH_DIR ?= runs/speech_commands_generated
data-speech: install
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { echo "Needs espeak-ng and sox: apt-get install -y espeak-ng sox"; exit 1; }
	$(PY) tools/generate_speech_commands.py --out $(SPEECH_DIR) --workers 2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
