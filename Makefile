# The two commands of the README. Everything else is CMake.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all deps configure build demo test clean

all: build

deps:
	./tools/install_deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/CMakeCache.txt ]; then \
	  cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release; \
	fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Generate the MLP graph and train it on Fashion-MNIST for one epoch.
demo: build
	$(BUILD_DIR)/tools/sbpflow gen mlp --layers 784,256,10 -o $(BUILD_DIR)/mlp.pb
	$(BUILD_DIR)/tools/sbpflow train $(BUILD_DIR)/mlp.pb --data fashion-mnist --batch 32 \
	  --epochs 1 --optimizer sgd --lr 0.03 --momentum 0.9 --lr-schedule cosine --seed 1

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR)
