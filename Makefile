# nashmd — every target names an outcome. `make test` on a fresh machine
# installs what it needs, builds, and runs every test.
#
# Knobs:
#   LIBTORCH=/path/to/libtorch   build against another libtorch (default: Debian's libtorch-dev)
#   Torch_DIR=.../share/cmake/Torch   the same, naming the CMake package directly
#   JOBS=N                        parallel compile jobs (default: all cores)
#   GOTESTFLAGS=...               extra flags for go test (e.g. -run Golden -v)

SHELL      := /bin/bash
BUILD      := build
BIN        := bin
JOBS       ?= $(shell nproc)
DEB_DEPS   := libtorch-dev libgloo-dev libopenblas0-pthread cmake bsdgames
TOOLS      := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
CMAKE_ARGS := -DCMAKE_BUILD_TYPE=Release
ifneq ($(LIBTORCH),)
CMAKE_ARGS += -DCMAKE_PREFIX_PATH=$(LIBTORCH)
endif
ifneq ($(Torch_DIR),)
CMAKE_ARGS += -DTorch_DIR=$(Torch_DIR)
endif
GO_SOURCES := $(shell find . -name '*.go' -not -path './.venv/*' -not -path './bench/.venv/*' 2>/dev/null)
C_SOURCES  := $(shell find csrc -name '*.cpp' -o -name '*.h' -o -name '*.c' -o -name '*.cu' 2>/dev/null)

.PHONY: all lib deps assets test check golden bench cuda cuda-test cuda-compile-check gpu-prebuilt gpu-check demo clean

# Build everything: libnashmd.so in build/, the commands in bin/.
all: lib examples/tiny/policy/model.safetensors
	@mkdir -p $(BIN)
	go build -o $(BIN)/ ./cmd/...

# The tiny example of examples/tiny.toml (random models from a fixed seed).
examples/tiny/policy/model.safetensors: internal/tiny/tiny.go | lib
	go run ./internal/tools/mktiny examples/tiny

# Install the Debian packages that are missing (apt-get update first when needed).
deps:
	@scripts/deps.sh $(DEB_DEPS)

# libnashmd.so; configure once, rebuild what changed.
lib: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/CMakeCache.txt: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

# The pinned real assets (tokenizers, a small model) in third_party/cache, sha256-checked.
assets:
	@scripts/fetch-assets.sh

# Every test: deps, assets, build, go vet, then the whole suite under the race
# detector. NASHMD_ASSETS tells tests that the assets must be there (a test
# that needs one fails without it; plain `go test` skips such tests).
test: deps assets all
	go vet ./...
	NASHMD_ASSETS=$(CURDIR)/third_party/cache go test -race -count=1 $(GOTESTFLAGS) ./...

# Static checks: gofmt, go vet, staticcheck, clang-format on csrc.
check: deps lib
	@unformatted=$$(gofmt -l $(GO_SOURCES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(TOOLS)/staticcheck ./...
	@scripts/deps.sh clang-format
	clang-format --dry-run -Werror $(C_SOURCES)

# Regenerate golden files with independent references (Debian's PyTorch 1.13
# and the safetensors package, in .venv). go test only reads them.
# Every generator is a testdata/gen_*.py beside the files it writes.
golden: .venv/.stamp assets
	@for g in $$(find . -path ./.venv -prune -o -path ./third_party/cache -prune -o -name "gen_*.py" -print | sort); do \
	  echo ".venv/bin/python $$g"; NASHMD_ASSETS=$(CURDIR)/third_party/cache .venv/bin/python $$g || exit 1; done
	@# VADER's own scores (npm vader-sentiment, unpacked by fetch-assets) for the lexicon judge.
	node judges/testdata/gen_vader.mjs
	@# llama.cpp itself (npm node-llama-cpp, prebuilt CPU binaries) for the GGUF check.
	@mkdir -p internal/e2e/.node
	@test -d internal/e2e/.node/node_modules/node-llama-cpp || (cd internal/e2e/.node && npm init -y >/dev/null && npm install --no-audit --no-fund node-llama-cpp@3.22.1)
	cp internal/e2e/testdata/gen_llamacpp.mjs internal/e2e/.node/
	cp internal/e2e/testdata/gen_llamacpp_tok.mjs internal/e2e/.node/
	node internal/e2e/.node/gen_llamacpp.mjs third_party/cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf > internal/e2e/testdata/llamacpp_greedy.json
	node internal/e2e/.node/gen_llamacpp_tok.mjs third_party/cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
	  hf/tokenizer/testdata/golden_smollm2.json.gz | gzip -n > internal/e2e/testdata/llamacpp_tokens.json.gz

.venv/.stamp: scripts/golden-requirements.txt
	@scripts/deps.sh python3-torch python3-venv
	/usr/bin/python3 -m venv --system-site-packages .venv
	.venv/bin/pip install -q -r scripts/golden-requirements.txt
	@touch $@

# Benchmarks: ratios measured in the same run, TRL's NashMDTrainer (the peer,
# in bench/.venv) on the same work; writes bench/results/<date>-<host>.json.
# About 15 minutes on 2 cores (TRL's steps are most of it).
bench: deps all bench/.venv/.stamp
	$(BIN)/nashmd-bench

bench/.venv/.stamp: bench/requirements.txt
	@scripts/deps.sh python3-torch python3-venv
	/usr/bin/python3 -m venv --system-site-packages bench/.venv
	bench/.venv/bin/pip install -q -r bench/requirements.txt
	@touch $@

# The GPU build (README "GPU build"): libnashmd.so with the CUDA kernels of
# csrc/kernels/*.cu for sm_80 and sm_90 in build-cuda/, against a CUDA
# libtorch 2.x (LIBTORCH=..., else the installed Python torch), and bin/
# linked against it. A clear error when no CUDA libtorch or nvcc is found.
CUDA_BUILD := $(BUILD)-cuda
CUDA_CGO   := CGO_LDFLAGS="-L$(CURDIR)/$(CUDA_BUILD) -Wl,-rpath,$(CURDIR)/$(CUDA_BUILD) -Wl,--allow-shlib-undefined"
cuda:
	@LIBTORCH="$(LIBTORCH)" JOBS=$(JOBS) CUDA_BUILD=$(CUDA_BUILD) scripts/cuda-build.sh

# The GPU tests against the CUDA build (they skip without a GPU).
cuda-test: cuda
	$(CUDA_CGO) go test ./torch -run 'CUDA|ParseDevice|MixtureSampleEx' -v -count=1

# No GPU needed: compile the kernels with nvcc (Debian's nvidia-cuda-toolkit,
# installed by scripts/cuda-toolkit.sh when missing) for sm_80 and sm_90, and
# the checker csrc/kernels/cuda_check.cu, without a CUDA libtorch.
cuda-compile-check:
	@scripts/cuda-compile-check.sh

# Go programs for a GPU machine without Go (bench/gpu-check.sh uses them),
# built here against a CUDA libtorch (LIBTORCH, else torch 2.11's CUDA wheel
# and CUDA 13.0 from PyPI): build-cuda-prebuilt/{libnashmd.so,torch.test,
# nashmd-bench,cuda_check}. See scripts/gpu-prebuilt.sh.
gpu-prebuilt:
	@LIBTORCH="$(LIBTORCH)" JOBS=$(JOBS) scripts/gpu-prebuilt.sh

# The H200 check of issue 9: build, kernel checks, GPU tests, benchmark.
gpu-check:
	bench/gpu-check.sh

# Train SmolLM2-135M-Instruct with Nash-MD on quiz questions and show that it
# got better (see scripts/demo.sh and demo/run.toml). About 10 minutes on 2 cores.
demo: deps all
	@scripts/demo.sh

clean:
	rm -rf $(BUILD) $(BIN) $(BUILD)-cuda $(BUILD)-cuda-check $(BUILD)-cuda-prebuilt $(BUILD)-cuda-deps
