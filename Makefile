# trajvae: `make demo` trains the VAE on the bundled digits; `make test` runs the suite.
# Both create .venv and install the package on first use.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNS   ?= runs
EXTRAS ?= all,test
PRESET ?=
SET    ?=
XDIST  ?= -n 2 --dist loadgroup
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.cache/jax

.PHONY: help install demo test train-vae eval-vae sample-vae train-musicvae eval-musicvae sample-musicvae \
	interpolate-musicvae train-sectar eval-sectar sample-sectar bench-vae bench-musicvae bench-sectar \
	experiment-vae experiment-musicvae experiment-sectar experiment-sectar-curves experiment-structured demo-musicvae serve \
	bench-serve clean

help:  ## list targets
	@grep -E '^[^#=	]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^[$$][(]addprefix ([a-z]+-),[$$][(]MODELS[)][)]:/\1MODEL:/; s/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install trajvae with every extra and the test tools (EXTRAS=all,test,cuda for NVIDIA GPUs)

demo: $(VENV)/.installed  ## train the 2-D VAE on the bundled digits, evaluate it, draw its pictures into runs/demo
	$(PY) -m trajvae train vae --preset digits-2d --workdir $(RUNS)/demo $(if $(SET),--set $(SET))
	$(PY) -m trajvae eval vae --workdir $(RUNS)/demo
	$(PY) -m trajvae sample vae --workdir $(RUNS)/demo

test: $(VENV)/.installed  ## run the whole test suite
	$(PY) -m pytest -q $(XDIST) tests

.PHONY: test-fast lint
test-fast: $(VENV)/.installed  ## the unit tier only (no slow, e2e, multiprocess or notebook tests), for the edit-test loop
	$(PY) -m pytest -q $(XDIST) -m "not slow and not e2e and not multiprocess and not notebook" tests

lint: $(VENV)/.installed  ## ruff check (rules in pyproject.toml) and ruff format --check (2-space style, 120 columns)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Model targets: make train-MODEL [CONFIG=preset] [SET="key=value ..."]; MODEL is vae, musicvae or sectar.
# The run lives in $(RUNS)/MODEL-PRESET; eval/sample/interpolate read the same folder.
CONFIG ?= $(PRESET)
WORKDIR = $(RUNS)/$*-$(or $(CONFIG),default)
MODELS := vae musicvae sectar

$(addprefix train-,$(MODELS)): train-%: $(VENV)/.installed  ## make train-musicvae CONFIG=cat-mel_2bar_small SET="train.steps=5000"
	$(PY) -m trajvae train $* $(if $(CONFIG),--preset $(CONFIG)) --workdir $(WORKDIR) $(if $(SET),--set $(SET))

$(addprefix eval-,$(MODELS)): eval-%: $(VENV)/.installed  ## held-out metrics of a run (SET="eval.iwae_samples=5000" etc.)
	$(PY) -m trajvae eval $* --workdir $(WORKDIR) $(if $(SET),--set $(SET))

$(addprefix sample-,$(MODELS)): sample-%: $(VENV)/.installed  ## samples and pictures of a run
	$(PY) -m trajvae sample $* --workdir $(WORKDIR)

interpolate-musicvae: interpolate-%: $(VENV)/.installed  ## latent interpolation (START=a.mid END=b.mid optional)
	$(PY) -m trajvae interpolate $* --workdir $(WORKDIR) $(if $(START),--start $(START) --end $(END))

experiment-vae: $(VENV)/.installed  ## the README's digits table: latent sizes x likelihoods x seeds
	$(PY) experiments/vae_digits.py --out $(RUNS)/experiment-vae

bench-vae: $(VENV)/.installed  ## compile time and examples/s of the MNIST-size VAE
	$(PY) benchmarks/vae.py

# Kingma & Welling's own experiments on Fashion-MNIST (Debian's dataset-fashion-mnist; FASHION_DIR overrides).
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
FIG2_SAMPLES ?= 1000000
FIG3_SAMPLES ?= 1000000
FIG2_SEEDS ?= 0 1 2
.PHONY: fashion-mnist-data experiment-vae-fig2 experiment-vae-fig2-digits experiment-vae-fig3 experiment-vae-fig5 bench-vae-baselines
fashion-mnist-data:  ## check for (or apt-get install) Debian's dataset-fashion-mnist
	@test -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz || apt-get install -y dataset-fashion-mnist || \
	  { echo "Fashion-MNIST missing: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or set FASHION_DIR"; exit 2; }

experiment-vae-fig2: $(VENV)/.installed fashion-mnist-data  ## Fig. 2: AEVB vs wake-sleep bound vs samples, N_z 3-200 (FIG2_SAMPLES per run; ~1 h at 10^6 on 2 loaded cores)
	$(PY) experiments/vae_fig2.py --out $(RUNS)/experiment-vae-fig2 --max-samples $(FIG2_SAMPLES) --data-dir $(FASHION_DIR) --iwae-images 500

experiment-vae-fig2-digits: $(VENV)/.installed  ## Fig. 2's comparison on the bundled 8x8 digits, N_z 3-20, seeds FIG2_SEEDS, 2e6 samples (25 min on 2 shared cores)
	$(PY) experiments/vae_fig2.py --dataset digits --out $(RUNS)/experiment-vae-fig2-digits --latents 3 5 10 20 --seeds $(FIG2_SEEDS) --max-samples 2000000 --levels 2000000

experiment-vae-fig3: $(VENV)/.installed fashion-mnist-data  ## Fig. 3: AEVB/wake-sleep/MCEM marginal likelihood, N_z=3, 1k and 50k train images
	$(PY) experiments/vae_fig3.py --out $(RUNS)/experiment-vae-fig3 --max-samples $(FIG3_SAMPLES) --data-dir $(FASHION_DIR)

experiment-vae-fig5: $(VENV)/.installed fashion-mnist-data  ## Fig. 5: prior samples of the Fig. 2 AEVB models at the paper's N_z 2, 5, 10, 20 (trains those missing)
	$(PY) experiments/vae_fig2.py --out $(RUNS)/experiment-vae-fig2 --max-samples $(FIG2_SAMPLES) --data-dir $(FASHION_DIR) --figure5-only --latents 2 5 10 20

bench-vae-baselines: $(VENV)/.installed  ## examples/s of the AEVB and wake-sleep steps at 784-500-N_z beside the matmul rate
	$(PY) benchmarks/vae_baselines.py

STEPS_2BAR ?= 8000
STEPS_16BAR ?= 2000
experiment-musicvae: $(VENV)/.installed  ## Table 1 at CPU scale: 2-bar (8k steps), flat vs hierarchical 16-bar (2k) + paired bootstrap (~1.5 h)
	$(PY) experiments/musicvae_table1.py --out $(RUNS)/experiment-musicvae --preset cat-mel_2bar_cpu --steps $(STEPS_2BAR)
	$(PY) experiments/musicvae_table1.py --out $(RUNS)/experiment-musicvae --preset flat-mel_16bar_cpu hierdec-mel_16bar_cpu --steps $(STEPS_16BAR)
	$(PY) experiments/musicvae_paired.py $(RUNS)/experiment-musicvae/hierdec-mel_16bar_cpu $(RUNS)/experiment-musicvae/flat-mel_16bar_cpu

experiment-sectar: $(VENV)/.installed  ## SeCTAR vs flat PPO vs learned-dynamics MPC on waypoint and block (CPU scale)
	$(PY) experiments/sectar_compare.py --small --out $(RUNS)/experiment-sectar

experiment-sectar-curves: $(VENV)/.installed  ## SeCTAR/flat PPO/dynamics MPC curves vs the oracle, skill reuse, pictures (1M steps/run; SMALL=1: ~50k; ENVS=waypoint SEEDS="0 1" METHODS=sectar; SET="..." TAG=name: SeCTAR overrides, into their own folder)
	$(PY) experiments/sectar_curves.py $(if $(SMALL),--small) $(if $(ENVS),--envs $(ENVS)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(METHODS),--methods $(METHODS)) $(if $(SET),--set $(SET)) --out $(RUNS)/experiment-sectar-curves$(if $(SMALL),-small)$(if $(TAG),-$(TAG))

bench-sectar: $(VENV)/.installed  ## env-steps/s, PPO update throughput, MPC latency at K=2048
	$(PY) benchmarks/sectar.py

.PHONY: bench-gpu
bench-gpu: $(VENV)/.installed  ## accelerator table: MusicVAE batch 512 (f32/bf16, scan/cuDNN; TORCH_PYTHON=path adds PyTorch), SeCTAR MPC K=2048; SMOKE=1: tiny, CPU
	$(PY) benchmarks/bench_gpu.py $(if $(SMOKE),--smoke) $(if $(TORCH_PYTHON),--torch-python $(TORCH_PYTHON))

experiment-structured: $(VENV)/.installed  ## latent structured prediction: classic vs randomized (Bello & Honorio) over |H|, n, seeds (~10 min)
	$(PY) experiments/structured_compare.py --out $(RUNS)/experiment-structured

bench-musicvae: $(VENV)/.installed  ## MusicVAE compile time, examples/s, sampling throughput, peak memory
	$(PY) benchmarks/musicvae.py

demo-musicvae: $(VENV)/.installed  ## a small 2-bar melody MusicVAE on the offline corpus, then samples and an interpolation
	$(PY) -m trajvae train musicvae --preset cat-mel_2bar_cpu --workdir $(RUNS)/demo-musicvae
	$(PY) -m trajvae eval musicvae --workdir $(RUNS)/demo-musicvae
	$(PY) -m trajvae sample musicvae --workdir $(RUNS)/demo-musicvae
	$(PY) -m trajvae interpolate musicvae --workdir $(RUNS)/demo-musicvae

# WORKDIR given on the command line (or in the environment) names the run to serve; the model targets' WORKDIR otherwise.
given_workdir = $(if $(filter command line environment,$(origin WORKDIR)),$(WORKDIR),$(1))

serve: $(VENV)/.installed  ## browse a trained run in the browser: make serve WORKDIR=runs/demo [PORT=8000] [HOST=127.0.0.1]
	$(PY) -m trajvae serve --workdir $(call given_workdir,$(RUNS)/demo) --host $(or $(HOST),127.0.0.1) --port $(or $(PORT),8000)

bench-serve: $(VENV)/.installed  ## explorer latency under load on loopback: make bench-serve WORKDIR=runs/demo-musicvae
	$(PY) benchmarks/serve_load.py --workdir $(call given_workdir,$(RUNS)/demo-musicvae)

clean:  ## remove runs and caches (keeps .venv)
	rm -rf $(RUNS) .cache

# The paper's latent-space studies (§5) on Table 1's 2-bar melody run; trains it first (STEPS_2BAR) if it has no checkpoint.
LATENT_RUN ?= $(RUNS)/experiment-musicvae/cat-mel_2bar_cpu
.PHONY: experiment-musicvae-latent
experiment-musicvae-latent: $(VENV)/.installed  ## interpolation (latent vs data space) and attribute vectors -> PNG + JSON
	test -d $(LATENT_RUN)/checkpoints || $(PY) -m trajvae train musicvae --preset cat-mel_2bar_cpu --workdir $(LATENT_RUN) --set train.steps=$(STEPS_2BAR) $(SET)
	$(PY) experiments/musicvae_latent_studies.py $(LATENT_RUN)

# Issue 25: hierarchical vs flat on 16-bar melodies, 3 training seeds per arm plus the positive control (free
# bits 0, beta 1); resumes from checkpoints. The default STUDY_ARGS are the run in docs/music_16bar_study.md (~85 min
# on the shared 2-core CPU); STUDY_ARGS="--width 64 --steps 1500" is the presets' own size (hours).
STUDY_ARGS ?= --width 32 --steps 1500 --control-steps 600 --eval-windows 128 --draws 1000 --checkpoint-every 250
.PHONY: experiment-musicvae-16bar
experiment-musicvae-16bar: $(VENV)/.installed  ## 16-bar hierarchical vs flat, seeds as units + positive control -> JSON + PNG
	nice -n 10 $(PY) experiments/music_16bar_study.py --out $(RUNS)/music-16bar-study $(STUDY_ARGS)
