# greenshim — build, test, install.
#
#   make            the library (build/libgreenshim.so) and greenrun; never installs anything
#   make deps       installs the missing Debian packages (apt-get when root), else names them
#   make test       deps, then builds and runs every test
#   make demo       deps, then the converted echo server demo
#   make bench      benchmarks
#   make check-clang  the library built with clang++, and a test under it
#   make install PREFIX=/usr/local

CXX      ?= g++
CC       ?= gcc
PREFIX   ?= /usr/local
BUILD    := build
OPT      ?= -O2
# -MMD -MP: each object records the headers it includes (build/obj/**/*.d).
CXXFLAGS := -std=c++20 $(OPT) -g -Wall -Wextra -fPIC -pthread -Iruntime/include -Iruntime -MMD -MP
# The library calls its own functions directly: nobody interposes greenshim's internals.
# Hidden by default: only the hooks (GREEN_HOOK), the public headers and GREEN_EXPORT are
# exported; the version script keeps standard-library template copies local too.
LIB_CXXFLAGS := -fno-semantic-interposition -fvisibility=hidden -fvisibility-inlines-hidden
LIB_MAP  := shim/libgreenshim.map
CFLAGS   := -std=gnu11 $(OPT) -g -Wall -Wextra -pthread
# Boost.Context is linked in statically: its three assembly routines then need no PLT hop
# on every switch, and a preloaded library drags no Boost .so into the program.
LIBS     := -lev -Wl,-Bstatic -lboost_context -Wl,-Bdynamic -Wl,--exclude-libs,ALL -ldl -pthread

# ripgrep, mariadb-server and redis-server (+ redis-tools: redis-cli, redis-benchmark):
# third-party threaded programs the tests run under the shim (tests/programs/). liburing-dev:
# tests/shim/syscall_trap_test waits through liburing, whose own syscall instructions greenshim traps.
DEB_PKGS := libev-dev libboost-context-dev libgtest-dev liburing-dev ripgrep mariadb-server redis-server redis-tools
DEPS_OK  := $(BUILD)/.deps-ok

LIB      := $(BUILD)/libgreenshim.so
RUNTIME_SRC := $(wildcard runtime/*.cpp)
SHIM_SRC    := $(wildcard shim/*.cpp)
LIB_OBJ  := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(RUNTIME_SRC) $(SHIM_SRC))
HEADERS  := $(wildcard runtime/include/green/*.hpp runtime/include/green/*.h runtime/include/green/detail/*.hpp)

TEST_RUNTIME_SRC := $(wildcard tests/runtime/*_test.cpp)
TEST_RUNTIME_BIN := $(BUILD)/tests/runtime_tests
SEED_SRC  := $(wildcard demos/seeds/*.cpp)
SEED_BIN  := $(patsubst demos/seeds/%.cpp,$(BUILD)/demos/seeds/%,$(SEED_SRC))
TEST_DEMO_BIN := $(BUILD)/tests/demos_tests
# Shim tests are plain POSIX programs that know nothing of greenshim: each runs twice,
# without the shim and under LD_PRELOAD. *_green_test.cpp link the library and call
# green::patch_all() to show concurrency through the API.
SHIM_PLAIN_SRC := $(filter-out %_green_test.cpp,$(wildcard tests/shim/*_test.cpp))
SHIM_PLAIN_BIN := $(patsubst tests/shim/%.cpp,$(BUILD)/tests/shim/%,$(SHIM_PLAIN_SRC))
SHIM_GREEN_SRC := $(wildcard tests/shim/*_green_test.cpp)
SHIM_GREEN_BIN := $(patsubst tests/shim/%.cpp,$(BUILD)/tests/shim/%,$(SHIM_GREEN_SRC))
# Third-party programs (python3…) run under LD_PRELOAD by a GoogleTest driver.
PROGRAMS_BIN := $(BUILD)/tests/programs_tests
BENCH_SWITCH := $(BUILD)/bench/switch
BENCH_SYSCALLS := $(BUILD)/bench/syscalls
GREENRUN := $(BUILD)/bin/greenrun
ECHO_BINS := $(BUILD)/demos/echo/threaded_echo $(BUILD)/bench/loadgen
BENCH_ECHO_BINS := $(ECHO_BINS) $(BUILD)/bench/epoll_echo $(BUILD)/demos/echo/green_echo $(BUILD)/demos/echo/stdio_echo

RPATH    := -Wl,-rpath,'$$ORIGIN/..' -Wl,-rpath,'$$ORIGIN/../..'

.PHONY: all deps test run-tests bench install clean demo run-demo check-clang check-cpython
all: $(LIB) $(GREENRUN)

$(GREENRUN): tools/greenrun.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 $(OPT) -Wall -Wextra -o $@ $<

$(BUILD)/demos/echo/threaded_echo: demos/echo/threaded_echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(BUILD)/demos/echo/stdio_echo: demos/echo/threaded_echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DECHO_STDIO -o $@ $<

$(BUILD)/bench/epoll_echo: bench/epoll_echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(BUILD)/demos/echo/green_echo: demos/echo/green_echo.cpp $(LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $< -L$(BUILD) -lgreenshim $(RPATH)

$(BUILD)/bench/loadgen: bench/loadgen.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 -O2 -g -Wall -Wextra -o $@ $<

# --- Debian packages -------------------------------------------------------------------
# Only `make deps` (and so test and demo) installs: a plain `make` that lacks a package
# fails at the first #include instead.
$(DEPS_OK): Makefile
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "greenshim: installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || exit 1; \
	  else \
	    echo "greenshim: missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p $(BUILD) && touch $@
deps: $(DEPS_OK)

# --- the library -----------------------------------------------------------------------
$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(LIB_CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ) $(LIB_MAP)
	$(CXX) -shared -Wl,--version-script=$(LIB_MAP) -o $@ $(LIB_OBJ) $(LIBS)

-include $(LIB_OBJ:.o=.d)

# --- tests -----------------------------------------------------------------------------
$(TEST_RUNTIME_BIN): $(TEST_RUNTIME_SRC) $(LIB) $(HEADERS) $(wildcard tests/*.hpp tests/runtime/*.hpp)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $(TEST_RUNTIME_SRC) -L$(BUILD) -lgreenshim -lgtest -lgtest_main $(RPATH) -pthread

$(BUILD)/demos/seeds/%: demos/seeds/%.cpp $(LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $< -L$(BUILD) -lgreenshim $(RPATH)

$(TEST_DEMO_BIN): tests/demos/seeds_test.cpp $(SEED_BIN)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -DSEED_DIR='"$(abspath $(BUILD)/demos/seeds)"' -o $@ $< -lgtest -lgtest_main -pthread

$(BUILD)/tests/shim/%_green_test: tests/shim/%_green_test.cpp $(LIB) $(HEADERS) $(wildcard tests/*.hpp tests/shim/*.hpp)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $< -L$(BUILD) -lgreenshim -lgtest -lgtest_main $(RPATH) -pthread

# The module tls_test dlopen()s from beside itself.
$(BUILD)/tests/shim/libtls_module.so: tests/shim/tls_module.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $<
$(BUILD)/tests/shim/tls_test: $(BUILD)/tests/shim/libtls_module.so
# thread_cleanup_test's handlers are C (glibc's setjmp-based pthread_cleanup_push).
$(BUILD)/tests/shim/thread_cleanup.o: tests/shim/thread_cleanup.c tests/shim/thread_cleanup.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/tests/shim/thread_cleanup_test: $(BUILD)/tests/shim/thread_cleanup.o
# syscall_trap_test is a liburing program.
$(BUILD)/tests/shim/syscall_trap_test: TEST_LIBS = -luring
# x86_code_test checks the decoder itself, linked in from the library's objects.
$(BUILD)/tests/shim/x86_code_test: $(BUILD)/obj/shim/x86_code.o

$(BUILD)/tests/shim/%_test: tests/shim/%_test.cpp $(wildcard tests/*.hpp tests/shim/*.hpp)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 $(OPT) -g -Wall -Wextra -pthread -o $@ $< $(filter %.o,$^) $(TEST_LIBS) -lgtest -lgtest_main -pthread

$(PROGRAMS_BIN): $(wildcard tests/programs/*_test.cpp tests/programs/*.hpp tests/programs/rust/*.rs)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 $(OPT) -g -Wall -Wextra -DGREEN_LIB='"$(abspath $(LIB))"' -DGREEN_ROOT='"$(abspath .)"' -o $@ $(wildcard tests/programs/*_test.cpp) -lgtest -lgtest_main -pthread

# deps first, then a second make builds and runs: no compile may start before apt-get ends.
test: deps
	@$(MAKE) --no-print-directory run-tests
run-tests: $(TEST_RUNTIME_BIN) $(TEST_DEMO_BIN) $(SHIM_PLAIN_BIN) $(SHIM_GREEN_BIN) $(PROGRAMS_BIN) $(LIB)
	@tests/run $(TEST_RUNTIME_BIN) $(TEST_DEMO_BIN) $(SHIM_GREEN_BIN) $(PROGRAMS_BIN) \
	  $(SHIM_PLAIN_BIN) $(addprefix preload:,$(SHIM_PLAIN_BIN))

# --- the demo --------------------------------------------------------------------------
demo: deps
	@$(MAKE) --no-print-directory run-demo
run-demo: $(LIB) $(GREENRUN) $(ECHO_BINS)
	@demos/echo/run_demo.sh

# --- benchmarks ------------------------------------------------------------------------
$(BENCH_SWITCH): bench/switch.cpp $(LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -O3 -o $@ $< -L$(BUILD) -lgreenshim -lboost_context $(RPATH)

$(BENCH_SYSCALLS): bench/syscalls.cpp $(LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -O2 -o $@ $< -L$(BUILD) -lgreenshim $(RPATH)

bench: $(BENCH_SWITCH) $(BENCH_SYSCALLS) $(LIB) $(GREENRUN) $(BENCH_ECHO_BINS) $(BUILD)/.gnuplot-ok
	$(BENCH_SWITCH)
	$(BENCH_SYSCALLS)
	bench/echo

# gnuplot draws bench/echo's plot; like the build dependencies, installed when root.
$(BUILD)/.gnuplot-ok:
	@command -v gnuplot >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox || apt-get update -qq && apt-get install -y -qq gnuplot-nox; \
	  else echo "greenshim: for the plot, run: sudo apt-get install -y gnuplot-nox"; fi; }
	@mkdir -p $(BUILD) && touch $@

# --- CPython's test suite, with and without the shim (longer than make test) -----------
check-cpython: $(LIB) $(BUILD)/.cpython-tests-ok
	tests/cpython/check.py --lib $(LIB) --limits docs/limits.md

# Debian's libpython3.11-testsuite holds the test modules; installed when root.
$(BUILD)/.cpython-tests-ok:
	@test -f /usr/lib/python3.11/test/test_threading.py || { if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpython3.11-testsuite || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpython3.11-testsuite; }; \
	  else echo "greenshim: for check-cpython, run: sudo apt-get install -y libpython3.11-testsuite"; exit 1; fi; }
	@mkdir -p $(BUILD) && touch $@

# --- install ---------------------------------------------------------------------------
install: $(LIB) $(GREENRUN)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/green/detail \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(wildcard runtime/include/green/*.hpp runtime/include/green/*.h) $(DESTDIR)$(PREFIX)/include/green/
	install -m 644 $(wildcard runtime/include/green/detail/*.hpp) $(DESTDIR)$(PREFIX)/include/green/detail/
	sed -e 's|@PREFIX@|$(PREFIX)|g' greenshim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/greenshim.pc
	@if [ -x $(BUILD)/bin/greenrun ]; then install -m 755 $(BUILD)/bin/greenrun $(DESTDIR)$(PREFIX)/bin/; fi

# The library and greenrun built with clang++ instead (in build/clang), then one shim test
# under that library.
check-clang:
	$(MAKE) --no-print-directory BUILD=$(BUILD)/clang CXX=clang++ CC=clang all
	$(MAKE) --no-print-directory $(BUILD)/tests/shim/socket_test
	LD_PRELOAD=$(abspath $(BUILD)/clang/libgreenshim.so) GREEN_SHIM_EXPECTED=1 $(BUILD)/tests/shim/socket_test --gtest_brief=1

clean:
	rm -rf $(BUILD)
