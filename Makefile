# prophy - plain Makefile.
#   make            build ./prophy (and build/libprophy.a)
#   make test       build and run the whole test suite
#   make sanitize   build with AddressSanitizer + UBSan into build-asan/ and run the suite
#   make bench      compare against the PyTorch peer (bench/run.sh)
# PORTABLE=1 builds without -march=native (the kernels fall back to plain C).

CC      ?= gcc
BLASDIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
OPT     ?= -O3
ifeq ($(PORTABLE),1)
ARCH    :=
else
ARCH    ?= -march=native
endif
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) $(SAN) -fopenmp -Wall -Wextra -Isrc -MMD -MP
LDLIBS  += -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lcjson -lpng -lgif -lavformat -lavcodec -lavutil -lswscale -lm
LDFLAGS += -fopenmp $(SAN)

BUILD   ?= build
LIBSRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLISRC  := $(wildcard src/cli/*.c)
TESTSRC := $(filter-out tests/blas_shim.c,$(wildcard tests/*.c))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o)
CLIOBJ  := $(CLISRC:%.c=$(BUILD)/%.o)
TESTOBJ := $(TESTSRC:%.c=$(BUILD)/%.o)

.PHONY: all test sanitize bench clean
all: prophy

prophy: $(BUILD)/prophy
	rm -f $@ && cp $< $@

$(BUILD)/libprophy.a: $(LIBOBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/prophy: $(CLIOBJ) $(BUILD)/libprophy.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The test binary links every library object (not the archive) so that no test's
# subject is dropped by the linker.
$(BUILD)/prophy_test: $(TESTOBJ) $(LIBOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# tests/cli_blas.sh preloads it to play an OpenBLAS that fell back to Prescott
$(BUILD)/tests/blas_shim.so: tests/blas_shim.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -Wall -Wextra -o $@ $<

test: $(BUILD)/prophy $(BUILD)/prophy_test $(BUILD)/tests/blas_shim.so
	BUILD=$(BUILD) tests/run.sh $(BUILD)

sanitize:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

bench: prophy
	bench/run.sh

clean:
	rm -rf build build-asan prophy

-include $(LIBOBJ:.o=.d) $(CLIOBJ:.o=.d) $(TESTOBJ:.o=.d)

# Speed of the numeric core's hot ops alone: make bench/bench_ops && bench/bench_ops
OPSOBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/nn/ops_*.c)) $(BUILD)/src/base/common.o $(BUILD)/src/base/rng.o
bench/bench_ops: bench/bench_ops.c $(OPSOBJ)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $@ $^ $(LDLIBS)
