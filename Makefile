# gptoss: plain Makefile. `make` builds libgptoss.a and the gptoss command; `make test` runs every
# test (what CI runs); `make demo` synthesizes a small model and generates from it.
#   make SANITIZE=address,undefined   sanitized build (in build-san/)
#   make CC=clang WERROR=1            warnings as errors
CC ?= cc
SANITIZE ?=
WERROR ?=
OPT ?= -O2
# make CUDA=1 adds the CUDA backend (src/cuda/*.cu via nvcc), default dir build-cuda.
CUDA ?= 0
ifeq ($(CUDA),1)
BUILD ?= build-cuda
endif
# make MPI=1 shards a model over ranks started by mpirun (src/dist/dist_mpi.c; Debian's
# libopenmpi-dev and openmpi-bin), compiled with mpicc, default dir build-mpi. Without it the
# single-process communicator stands in and nothing needs MPI.
MPI ?= 0
ifeq ($(MPI),1)
BUILD ?= build-mpi
MPICC ?= mpicc
CC := $(MPICC)
endif
ifeq ($(SANITIZE),)
BUILD ?= build
else
BUILD ?= build-san
endif

# Cross builds (make CC=aarch64-linux-gnu-gcc BUILD=build-arm64): the optional libraries are looked
# up with the target's pkg-config (aarch64-linux-gnu-pkg-config), never the host's, whose .pc files
# would point the cross compiler at x86 headers and libraries; without one the optional features are
# off. A native build keeps plain pkg-config.
CC_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
CC_ARCH := $(firstword $(subst -, ,$(CC_MACHINE)))
HOST_ARCH := $(shell uname -m)
ifneq ($(CC_ARCH),)
ifneq ($(CC_ARCH),$(HOST_ARCH))
ifneq ($(CC_ARCH)$(HOST_ARCH),arm64aarch64)
CROSS := $(CC_MACHINE)-
endif
endif
endif
PKG_CONFIG ?= $(CROSS)pkg-config
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS ?= -g $(OPT)
CFLAGS += -std=c11 -pthread -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing
LDLIBS += -lm -lpthread
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC := $(sort $(wildcard src/*/*.c))
ifeq ($(MPI),1)
CPPFLAGS += -DGPTOSS_MPI
else
LIB_SRC := $(filter-out src/dist/dist_mpi.c src/dist/dist_watch.c,$(LIB_SRC))
endif
# CUDA=1 MPI=1: the collectives on GPU memory through NCCL (src/dist/dist_nccl.c), from the CUDA
# toolkit (NCCL_HOME, default CUDA_HOME) or NVIDIA's libnccl-dev (/usr).
ifeq ($(CUDA)$(MPI),11)
NCCL_HOME ?= $(firstword $(foreach d,$(or $(CUDA_HOME),/usr/local/cuda) /usr,$(if $(wildcard $(d)/include/nccl.h),$(d))))
ifeq ($(NCCL_HOME),)
$(error make CUDA=1 MPI=1 needs NCCL (nccl.h and libnccl): install NVIDIA's libnccl-dev, or set NCCL_HOME)
endif
# -isystem: nccl.h declares functions without prototypes, which -Wstrict-prototypes would refuse
CPPFLAGS += -DGPTOSS_NCCL -isystem $(NCCL_HOME)/include -isystem $(or $(CUDA_HOME),/usr/local/cuda)/include
LDLIBS += -L$(NCCL_HOME)/lib -L$(NCCL_HOME)/lib64 -L$(NCCL_HOME)/lib/x86_64-linux-gnu -lnccl \
          -Wl,-rpath,$(NCCL_HOME)/lib -Wl,-rpath,$(NCCL_HOME)/lib64
else
LIB_SRC := $(filter-out src/dist/dist_nccl.c,$(LIB_SRC))
endif
APP_SRC := $(sort $(wildcard app/*/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ := $(APP_SRC:%.c=$(BUILD)/%.o)
# The chat page of `gptoss serve` (app/server/page/), its files built in by the assembler's .incbin.
APP_OBJ += $(BUILD)/app/server/server_page_data.o
CLI_OBJ := $(filter $(BUILD)/app/cli/%.o,$(APP_OBJ))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# src/base/posix.c with its Linux branch off (the code macOS runs), tested on Linux too
TEST_BIN += $(BUILD)/tests/test_posix_fallback

LIB := $(BUILD)/libgptoss.a
BIN := $(BUILD)/gptoss

# sm_90a (H100/H200) SASS, sm_80 SASS, and compute_80 PTX for everything newer.
ifeq ($(CUDA),1)
.DEFAULT_GOAL := all
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80 \
             -gencode=arch=compute_80,code=compute_80
NVCCFLAGS ?= -O3 -std=c++17 -lineinfo $(CUDA_ARCH)
NVCC_WARN := -Xcompiler -Wall,-Wextra
ifeq ($(WERROR),1)
NVCC_WARN := -Xcompiler -Wall,-Wextra,-Werror
endif
CPPFLAGS += -DGPTOSS_CUDA
CU_SRC := $(sort $(wildcard src/cuda/*.cu))
CU_OBJ := $(CU_SRC:%.cu=$(BUILD)/%.o)
LIB_OBJ += $(CU_OBJ)
LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
TEST_BIN += $(BUILD)/tests/test_cuda_kernels
$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -Iinclude -Isrc -DGPTOSS_CUDA $(NVCCFLAGS) $(NVCC_WARN) -MMD -MP -c $< -o $@
$(BUILD)/tests/test_cuda_kernels: tests/test_cuda_kernels.cu $(LIB) tests/tap.h
	@mkdir -p $(dir $@)
	$(NVCC) -Iinclude -Isrc -Itests -DGPTOSS_CUDA $(NVCCFLAGS) $(NVCC_WARN) $< $(LIB) -lm -o $@
endif

.PHONY: all lib tests test demo bench bench-table fuzz clean install uninstall shared
all: $(BIN) $(TEST_BIN)
lib: $(LIB)
tests: $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(APP_OBJ): CPPFLAGS += -Iapp

$(BUILD)/app/server/server_page_data.o: app/server/server_page_data.S $(wildcard app/server/page/*)
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(APP_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $(APP_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) tests/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# The server's request head check is plain C in app/server/, tested without the server's libraries.
$(BUILD)/tests/test_server_head: tests/test_server_head.c $(BUILD)/app/server/server_head.o tests/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iapp -Itests $(CFLAGS) $(LDFLAGS) $< $(BUILD)/app/server/server_head.o -o $@

# The descriptor calls' portable branch (src/base/posix.c built with GPTOSS_POSIX_FALLBACK): what a
# system without pipe2 / accept4 / SOCK_CLOEXEC (macOS) runs, run here by tests/test_posix.c.
$(BUILD)/tests/test_posix_fallback: tests/test_posix.c src/base/posix.c src/base/posix.h tests/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGPTOSS_POSIX_FALLBACK -Itests $(CFLAGS) $(LDFLAGS) tests/test_posix.c src/base/posix.c -o $@

# The python tool where there is no Linux: src/tools/sandbox.c built with __linux__ undefined (its
# macOS branch), run by tests/test_sandbox_nonlinux.c against the rest of the library.
$(BUILD)/tests/test_sandbox_nonlinux: tests/test_sandbox_nonlinux.c src/tools/sandbox.c src/tools/sandbox.h $(LIB) tests/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -U__linux__ -DGPTOSS_HAVE_LIBSECCOMP -Itests $(CFLAGS) $(LDFLAGS) $< src/tools/sandbox.c $(LIB) \
	    $(LDLIBS) -o $@

# Line editing for `gptoss chat` when libedit is installed (optional at build time),
# and the chat test double: app/chat/chat.c driven by a scripted token source (tests/t_chat*.sh).
ifeq ($(shell $(PKG_CONFIG) --exists libedit 2>/dev/null && echo y),y)
$(BUILD)/app/chat/chat.o: CPPFLAGS += -DGPTOSS_HAVE_LIBEDIT $(shell $(PKG_CONFIG) --cflags libedit)
EDIT_LIBS := $(shell $(PKG_CONFIG) --libs libedit)
endif
$(BIN): LDLIBS += $(EDIT_LIBS)
CHAT_DOUBLE := $(BUILD)/tests/chat_double
all: $(CHAT_DOUBLE)
$(CHAT_DOUBLE): tests/chat_double.c $(BUILD)/app/chat/chat.o $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iapp $(CFLAGS) $(LDFLAGS) $< $(filter %.o,$^) $(LIB) $(LDLIBS) $(EDIT_LIBS) -o $@

# The browser tool's page conversion (src/tools/html_page.c) parses HTML with libxml2 (optional at
# build time: without it the browser tool says which package to install).
ifeq ($(shell $(PKG_CONFIG) --exists libxml-2.0 2>/dev/null && echo y),y)
$(BUILD)/src/tools/html_page.o $(BUILD)/pic/src/tools/html_page.o: CPPFLAGS += -DGPTOSS_HAVE_LIBXML2 $(shell $(PKG_CONFIG) --cflags libxml-2.0)
LDLIBS += $(shell $(PKG_CONFIG) --libs libxml-2.0)
endif

# The browser's web backend (src/tools/web.c: SearXNG search, http(s) pages) and `gptoss pull`
# (src/hub/hub_pull.c: downloads from the Hugging Face Hub) use libcurl (optional at build time: without
# it `gptoss tool browser run`, --search-url and `gptoss pull` say which package to install).
ifeq ($(shell $(PKG_CONFIG) --exists libcurl 2>/dev/null && echo y),y)
$(BUILD)/src/tools/web.o $(BUILD)/pic/src/tools/web.o $(BUILD)/src/hub/hub_pull.o $(BUILD)/pic/src/hub/hub_pull.o: CPPFLAGS += -DGPTOSS_HAVE_LIBCURL $(shell $(PKG_CONFIG) --cflags libcurl)
LDLIBS += $(shell $(PKG_CONFIG) --libs libcurl)
endif

# The browser tool's local corpus (src/tools/corpus*.c, gptoss index) is SQLite with FTS5 (optional at
# build time: without it `gptoss index` and --corpus say which package to install).
ifeq ($(shell $(PKG_CONFIG) --exists sqlite3 2>/dev/null && echo y),y)
$(BUILD)/src/tools/corpus.o $(BUILD)/src/tools/corpus_index.o $(BUILD)/pic/src/tools/corpus.o $(BUILD)/pic/src/tools/corpus_index.o: CPPFLAGS += -DGPTOSS_HAVE_SQLITE $(shell $(PKG_CONFIG) --cflags sqlite3)
LDLIBS += $(shell $(PKG_CONFIG) --libs sqlite3)
endif

# The python tool's sandbox (src/tools/sandbox.c) builds its seccomp filter with libseccomp (optional at
# build time: without it the python tool says which package to install; bwrap is found at run time).
ifeq ($(shell $(PKG_CONFIG) --exists libseccomp 2>/dev/null && echo y),y)
$(BUILD)/src/tools/sandbox.o $(BUILD)/pic/src/tools/sandbox.o: CPPFLAGS += -DGPTOSS_HAVE_LIBSECCOMP $(shell $(PKG_CONFIG) --cflags libseccomp)
LDLIBS += $(shell $(PKG_CONFIG) --libs libseccomp)
endif

# `gptoss serve` (app/server/, app/cmd/cmd_serve.c) needs libmicrohttpd and cJSON (optional at
# build time: without them `serve` says what to install), and its test double: the same files driven
# by scripted token streams (tests/t_server*.sh).
ifeq ($(shell $(PKG_CONFIG) --exists libmicrohttpd libcjson 2>/dev/null && echo y),y)
SERVER_OBJ := $(filter $(BUILD)/app/server/%.o,$(APP_OBJ))
$(SERVER_OBJ) $(BUILD)/app/cmd/cmd_serve.o: CPPFLAGS += -DGPTOSS_HAVE_SERVER $(shell $(PKG_CONFIG) --cflags libmicrohttpd libcjson)
SERVER_LIBS := $(shell $(PKG_CONFIG) --libs libmicrohttpd libcjson)
SERVER_DOUBLE := $(BUILD)/tests/server_double
all: $(SERVER_DOUBLE)
$(SERVER_DOUBLE): tests/server_double.c $(SERVER_OBJ) $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGPTOSS_HAVE_SERVER -Iapp $(CFLAGS) $(LDFLAGS) $< $(filter %.o,$^) $(LIB) $(LDLIBS) $(SERVER_LIBS) -o $@
endif
$(BIN): LDLIBS += $(SERVER_LIBS)

# The version: VERSION holds the release (the same as GPTOSS_VERSION in include/gptoss.h);
# `git describe` adds the commit when .git exists. $(BUILD)/gen/version.h changes only when they do.
VERSION := $(shell cat VERSION)
VERSION_MAJOR := $(firstword $(subst ., ,$(VERSION)))
GIT_DESCRIBE := $(if $(wildcard .git),$(shell git describe --tags --always --dirty 2>/dev/null))
VERSION_H := $(BUILD)/gen/version.h
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@printf '#define GPTOSS_BUILD_VERSION "%s"\n#define GPTOSS_GIT_DESCRIBE "%s"\n' '$(VERSION)' '$(GIT_DESCRIBE)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@
$(BUILD)/app/cmd/main.o: $(VERSION_H)
$(BUILD)/app/cmd/main.o: CPPFLAGS += -include $(VERSION_H)
.PHONY: FORCE
FORCE:

# The shared library: the same sources built position-independent in $(BUILD)/pic/ (the static
# library and the command are unchanged), exporting only the functions include/gptoss.h declares (a
# list made from the header's `gptoss_*(` declarations). On Linux (GNU ld) libgptoss.so.VERSION with
# the soname libgptoss.so.MAJOR and a version script; on macOS (UNAME_S=Darwin, Apple's ld, which
# takes neither) libgptoss.VERSION.dylib with the install name LIBDIR/libgptoss.MAJOR.dylib and an
# exported symbols list (Apple's ld refuses undefined symbols by default; tests/t_portable.sh checks
# the Darwin link line with make -n). CUDA=1 and MPI=1 builds skip it: the CUDA objects are not built
# position-independent, and an MPI program links its MPI itself; libgptoss.a carries the CUDA backend
# and the MPI communicator.
UNAME_S ?= $(shell uname -s)
PIC_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
SO_HEADER_NAMES = grep -oE '(^|[^A-Za-z0-9_])gptoss_[a-z0-9_]+ *\(' $< | sed 's/^[^g]//' | tr -d ' (' | sort -u
ifeq ($(UNAME_S),Darwin)
SO_NAME := libgptoss.$(VERSION_MAJOR).dylib
SO_REAL := libgptoss.$(VERSION).dylib
SO_LINK := libgptoss.dylib
SO_MAP := $(BUILD)/pic/gptoss.exports
SO_LDFLAGS = -dynamiclib -Wl,-install_name,$(LIBDIR)/$(SO_NAME) -Wl,-compatibility_version,$(VERSION_MAJOR) \
             -Wl,-current_version,$(VERSION) -Wl,-exported_symbols_list,$(SO_MAP)
$(SO_MAP): include/gptoss.h
	@mkdir -p $(dir $@)
	$(SO_HEADER_NAMES) | sed 's/^/_/' >$@
else
SO_NAME := libgptoss.so.$(VERSION_MAJOR)
SO_REAL := libgptoss.so.$(VERSION)
SO_LINK := libgptoss.so
SO_MAP := $(BUILD)/pic/gptoss.map
# every symbol resolved at link time (not under sanitizers: clang leaves their runtime to the program)
SO_LDFLAGS = -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=$(SO_MAP) $(if $(SANITIZE),,-Wl,--no-undefined)
$(SO_MAP): include/gptoss.h
	@mkdir -p $(dir $@)
	{ echo '{ global:'; $(SO_HEADER_NAMES) | sed 's/.*/    &;/'; echo '  local: *; };'; } >$@
endif
SO := $(BUILD)/$(SO_REAL)
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@
$(SO): $(PIC_OBJ) $(SO_MAP)
	$(CC) $(SO_LDFLAGS) $(CFLAGS) $(LDFLAGS) $(PIC_OBJ) $(LDLIBS) -o $@
	ln -sf $(SO_REAL) $(BUILD)/$(SO_NAME)
	ln -sf $(SO_NAME) $(BUILD)/$(SO_LINK)
ifeq ($(CUDA),1)
SO :=
endif
ifeq ($(MPI),1)
SO :=
endif
shared: $(SO)

# make install [PREFIX=/usr/local] [DESTDIR=...] [BINDIR= LIBDIR= INCLUDEDIR= MANDIR= PKGCONFIGDIR=]
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install
# The libraries libgptoss itself uses (the optional ones found above): what a static link needs.
PC_LIBS_PRIVATE := $(strip $(LDLIBS))
$(BUILD)/gptoss.pc: gptoss.pc.in VERSION Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|; s|@LIBS_PRIVATE@|$(PC_LIBS_PRIVATE)|' $< >$@
$(BUILD)/gptoss.pc: FORCE
install: $(BIN) $(LIB) $(SO) $(BUILD)/gptoss.pc
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 755 $(BIN) $(DESTDIR)$(BINDIR)/gptoss
	$(INSTALL) -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libgptoss.a
ifneq ($(SO),)
	$(INSTALL) -m 755 $(SO) $(DESTDIR)$(LIBDIR)/$(SO_REAL)
	ln -sf $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(LIBDIR)/$(SO_LINK)
endif
	$(INSTALL) -m 644 include/gptoss.h $(DESTDIR)$(INCLUDEDIR)/gptoss.h
	$(INSTALL) -m 644 $(BUILD)/gptoss.pc $(DESTDIR)$(PKGCONFIGDIR)/gptoss.pc
	$(INSTALL) -m 644 docs/gptoss.1 $(DESTDIR)$(MANDIR)/man1/gptoss.1
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gptoss $(DESTDIR)$(LIBDIR)/libgptoss.a $(DESTDIR)$(LIBDIR)/$(SO_LINK) \
	    $(DESTDIR)$(LIBDIR)/$(SO_NAME) $(DESTDIR)$(LIBDIR)/$(SO_REAL) $(DESTDIR)$(INCLUDEDIR)/gptoss.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/gptoss.pc $(DESTDIR)$(MANDIR)/man1/gptoss.1

# Every test: gcc and clang builds with warnings as errors, the suite under ASan+UBSan, fuzzers.
test:
	bash tests/all.sh

# The aarch64 build under qemu-aarch64 (tests/t_arm64.sh, also part of `make test` when Debian's
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user are installed): kernel tests and goldens.
.PHONY: test-arm64
test-arm64:
	bash tests/t_arm64.sh

# the same suite with two busy loops beside it (tests/stress.sh): no test may depend on a quiet machine
.PHONY: test-stress
test-stress:
	bash tests/stress.sh

demo: $(BIN)
	bash tests/demo.sh $(BIN)

bench: $(BIN)
	bash bench/run.sh $(BIN)

# the gptoss / llama.cpp CPU table alone (bench/table.sh; LLAMA_BENCH=/path/to/llama-bench adds llama.cpp's rows)
bench-table: $(BIN)
	bash bench/table.sh $(BIN)

fuzz:
	bash fuzz/run.sh

clean:
	rm -rf build build-*

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(PIC_OBJ:.o=.d)
