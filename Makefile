# trajvae: `make demo` trains the VAE on the bundled digits; `make test` runs the suite.
# Both create .venv and install the package on first use.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNS   ?= runs
EXTRAS ?= test
PRESET ?=
SET    ?=
XDIST  ?= -n 2
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.cache/jax

.PHONY: help install demo test train-vae eval-vae sample-vae bench-vae experiment-vae clean

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install trajvae (EXTRAS=test,cuda for NVIDIA GPUs)

demo: $(VENV)/.installed  ## train the 2-D VAE on the bundled digits, evaluate it, draw its pictures into runs/demo
	$(PY) -m trajvae train vae --preset digits-2d --workdir $(RUNS)/demo $(if $(SET),--set $(SET))
	$(PY) -m trajvae eval vae --workdir $(RUNS)/demo
	$(PY) -m trajvae sample vae --workdir $(RUNS)/demo

test: $(VENV)/.installed  ## run the whole test suite
	$(PY) -m pytest -q $(XDIST) tests

train-vae: $(VENV)/.installed  ## make train-vae PRESET=digits SET="train.steps=5000"
	$(PY) -m trajvae train vae $(if $(PRESET),--preset $(PRESET)) --workdir $(RUNS)/vae-$(or $(PRESET),default) $(if $(SET),--set $(SET))

eval-vae: $(VENV)/.installed  ## make eval-vae PRESET=digits SET="eval.iwae_samples=5000"
	$(PY) -m trajvae eval vae --workdir $(RUNS)/vae-$(or $(PRESET),default) $(if $(SET),--set $(SET))

sample-vae: $(VENV)/.installed  ## pictures of a trained run
	$(PY) -m trajvae sample vae --workdir $(RUNS)/vae-$(or $(PRESET),default)

experiment-vae: $(VENV)/.installed  ## the README's digits table: latent sizes x likelihoods x seeds
	$(PY) experiments/vae_digits.py --out $(RUNS)/experiment-vae

bench-vae: $(VENV)/.installed  ## compile time and examples/s of the MNIST-size VAE
	$(PY) benchmarks/vae.py

clean:  ## remove runs and caches (keeps .venv)
	rm -rf $(RUNS) .cache
