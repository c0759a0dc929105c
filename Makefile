# prophy - plain Makefile.
#   make            build ./prophy (and build/libprophy.a)
#   make test       build and run the whole test suite
#   make sanitize   build with AddressSanitizer + UBSan into build-asan/ and run the suite
#   make bench      compare against the PyTorch peer (bench/run.sh)
#   make fuzz       build the libFuzzer harnesses (fuzz/, clang) into build-fuzz/ and run
#                   each for FUZZ_RUNS executions (docs/FUZZING.md; not needed for CI)
# PORTABLE=1 builds without -march=native (the kernels fall back to plain C).

CC      ?= gcc
BLASDIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
OPT     ?= -O3
# FP ops never trap and libm never sets errno here: lets gcc vectorise loops with
# branches and sqrtf (values unchanged: no reassociation, no fast-math)
MATH    ?= -fno-math-errno -fno-trapping-math
ifeq ($(PORTABLE),1)
ARCH    :=
else
ARCH    ?= -march=native
endif
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) $(MATH) $(SAN) -fopenmp -Wall -Wextra -Isrc -MMD -MP
LDLIBS  += -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lcjson -lpng -lgif -lavformat -lavcodec -lavutil -lswscale -lm
LDFLAGS += -fopenmp $(SAN)

BUILD   ?= build
LIBSRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLISRC  := $(wildcard src/cli/*.c)
TESTSRC := $(filter-out tests/blas_shim.c,$(wildcard tests/*.c))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o)
CLIOBJ  := $(CLISRC:%.c=$(BUILD)/%.o)
TESTOBJ := $(TESTSRC:%.c=$(BUILD)/%.o)

.PHONY: all test sanitize bench clean fuzz fuzz-build FORCE
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

# Objects depend on the flags they were compiled with: the stamp is rewritten (and
# so every object rebuilt) only when `$(CC) $(CFLAGS)` differs from the last build's.
FORCE:
$(BUILD)/.cflags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(CC) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS)' > $@

$(BUILD)/%.o: %.c $(BUILD)/.cflags
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
	rm -rf build build-asan build-fuzz prophy

-include $(LIBOBJ:.o=.d) $(CLIOBJ:.o=.d) $(TESTOBJ:.o=.d)

# ---- fuzzing (developer target; needs clang and libclang-rt, see docs/FUZZING.md)
#   make fuzz                   every harness, FUZZ_RUNS (20000) executions each
#   FUZZ_RUNS=1000000 make fuzz the long run;  make fuzz FUZZ_TARGETS="spec y4m"  some
#   FUZZ_TIME=30 make fuzz      also stops each harness after 30 s
# The library is rebuilt with clang, ASan and UBSan into build-fuzz/ (one object per
# source, like the normal build); each fuzz/fuzz_NAME.c links against it.
FUZZ_CC     ?= clang
FUZZ_BUILD  ?= build-fuzz
FUZZ_RUNS   ?= 20000
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fopenmp -Wall -Wextra -Wno-pass-failed -Isrc $(FUZZ_SAN)
FUZZSRC     := $(wildcard fuzz/fuzz_*.c)
FUZZBIN     := $(FUZZSRC:fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZLIB     := $(LIBSRC:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libprophy.a: $(FUZZLIB)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(FUZZ_BUILD)/libprophy.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libprophy.a $(LDLIBS)

fuzz-build: $(FUZZBIN)

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_TIME=$(FUZZ_TIME) fuzz/run.sh $(FUZZ_RUNS) $(FUZZ_TARGETS)

-include $(FUZZLIB:.o=.d)

# Speed of the numeric core's hot ops alone: make bench/bench_ops && bench/bench_ops
OPSOBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/nn/ops_*.c)) $(BUILD)/src/base/common.o $(BUILD)/src/base/rng.o
bench/bench_ops: bench/bench_ops.c $(OPSOBJ)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $@ $^ $(LDLIBS)
