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
ifeq ($(SANITIZE),)
BUILD ?= build
else
BUILD ?= build-san
endif

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
APP_SRC := $(sort $(wildcard app/*/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ := $(APP_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(filter $(BUILD)/app/cli/%.o,$(APP_OBJ))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

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

.PHONY: all lib tests test demo bench fuzz clean
all: $(BIN) $(TEST_BIN)
lib: $(LIB)
tests: $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(APP_OBJ): CPPFLAGS += -Iapp

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

# Line editing for `gptoss chat` when libedit is installed (optional at build time),
# and the chat test double: app/chat/chat.c driven by a scripted token source (tests/t_chat*.sh).
ifeq ($(shell pkg-config --exists libedit 2>/dev/null && echo y),y)
$(BUILD)/app/chat/chat.o: CPPFLAGS += -DGPTOSS_HAVE_LIBEDIT $(shell pkg-config --cflags libedit)
EDIT_LIBS := $(shell pkg-config --libs libedit)
endif
$(BIN): LDLIBS += $(EDIT_LIBS)
CHAT_DOUBLE := $(BUILD)/tests/chat_double
all: $(CHAT_DOUBLE)
$(CHAT_DOUBLE): tests/chat_double.c $(BUILD)/app/chat/chat.o $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iapp $(CFLAGS) $(LDFLAGS) $< $(filter %.o,$^) $(LIB) $(LDLIBS) $(EDIT_LIBS) -o $@

# The browser tool's page conversion (src/tools/html_page.c) parses HTML with libxml2 (optional at
# build time: without it the browser tool says which package to install).
ifeq ($(shell pkg-config --exists libxml-2.0 2>/dev/null && echo y),y)
$(BUILD)/src/tools/html_page.o: CPPFLAGS += -DGPTOSS_HAVE_LIBXML2 $(shell pkg-config --cflags libxml-2.0)
LDLIBS += $(shell pkg-config --libs libxml-2.0)
endif

# The browser's web backend (src/tools/web.c: SearXNG search, http(s) pages) uses libcurl (optional at
# build time: without it `gptoss tool browser run` and --search-url say which package to install).
ifeq ($(shell pkg-config --exists libcurl 2>/dev/null && echo y),y)
$(BUILD)/src/tools/web.o: CPPFLAGS += -DGPTOSS_HAVE_LIBCURL $(shell pkg-config --cflags libcurl)
LDLIBS += $(shell pkg-config --libs libcurl)
endif

# The browser tool's local corpus (src/tools/corpus*.c, gptoss index) is SQLite with FTS5 (optional at
# build time: without it `gptoss index` and --corpus say which package to install).
ifeq ($(shell pkg-config --exists sqlite3 2>/dev/null && echo y),y)
$(BUILD)/src/tools/corpus.o $(BUILD)/src/tools/corpus_index.o: CPPFLAGS += -DGPTOSS_HAVE_SQLITE $(shell pkg-config --cflags sqlite3)
LDLIBS += $(shell pkg-config --libs sqlite3)
endif

# `gptoss serve` (app/server/, app/cmd/cmd_serve.c) needs libmicrohttpd and cJSON (optional at
# build time: without them `serve` says what to install), and its test double: the same files driven
# by scripted token streams (tests/t_server*.sh).
ifeq ($(shell pkg-config --exists libmicrohttpd libcjson 2>/dev/null && echo y),y)
SERVER_OBJ := $(filter $(BUILD)/app/server/%.o,$(APP_OBJ))
$(SERVER_OBJ) $(BUILD)/app/cmd/cmd_serve.o: CPPFLAGS += -DGPTOSS_HAVE_SERVER $(shell pkg-config --cflags libmicrohttpd libcjson)
SERVER_LIBS := $(shell pkg-config --libs libmicrohttpd libcjson)
SERVER_DOUBLE := $(BUILD)/tests/server_double
all: $(SERVER_DOUBLE)
$(SERVER_DOUBLE): tests/server_double.c $(SERVER_OBJ) $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGPTOSS_HAVE_SERVER -Iapp $(CFLAGS) $(LDFLAGS) $< $(filter %.o,$^) $(LIB) $(LDLIBS) $(SERVER_LIBS) -o $@
endif
$(BIN): LDLIBS += $(SERVER_LIBS)

# Every test: gcc and clang builds with warnings as errors, the suite under ASan+UBSan, fuzzers.
test:
	bash tests/all.sh

# the same suite with two busy loops beside it (tests/stress.sh): no test may depend on a quiet machine
.PHONY: test-stress
test-stress:
	bash tests/stress.sh

demo: $(BIN)
	bash tests/demo.sh $(BIN)

bench: $(BIN)
	bash bench/run.sh $(BIN)

fuzz:
	bash fuzz/run.sh

clean:
	rm -rf build build-*

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d)
