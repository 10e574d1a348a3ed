# provision - build, test, lint, bench.
#
#   make            build bin/provision
#   make deps       install what is missing (Debian packages, npm packages for tests)
#   make test       deps + build + lint + unit tests + end-to-end tests on local hosts
#   make demo       deps + build + a hardened local host from inventory.example.yml
#   make bench      converge timings for 1, 4 and 16 local hosts
#   make lint       clang-format check

CC ?= cc
PKGS := libssh2 yaml-0.1 libcurl openssl libarchive jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	  -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing -Iinclude $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread

SRC := $(sort $(wildcard provision/*.c))
OBJ := $(patsubst provision/%.c,build/obj/%.o,$(SRC))
LIBOBJ := $(filter-out build/obj/main.o,$(OBJ))
HDR := $(wildcard include/provision/*.h)
UNIT_SRC := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,build/unit/%,$(UNIT_SRC))
FMT_FILES := $(SRC) $(HDR) $(wildcard tests/unit/*.c tests/unit/*.h tests/helpers/*.c)

.PHONY: all deps test unit e2e lint format demo bench clean check-deps

all: bin/provision

bin/provision: $(OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDLIBS)

build/obj/%.o: provision/%.c $(HDR) | check-deps
	@mkdir -p build/obj
	$(CC) $(CFLAGS) -c -o $@ $<

build/unit/%: tests/unit/%.c tests/unit/check.h $(wildcard tests/unit/*.h) $(LIBOBJ)
	@mkdir -p build/unit
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBOBJ) $(LDLIBS)

check-deps:
	@pkg-config --exists $(PKGS) || { echo "missing libraries: run 'make deps'" >&2; exit 2; }

deps:
	@tests/deps.sh

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

e2e: bin/provision
	@tests/run.sh

# The whole suite, as CI runs it.
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory lint
	@tests/run.sh --with-unit $(UNIT_BIN)

lint:
	@clang-format --dry-run --Werror $(FMT_FILES) && echo "lint: ok"

format:
	clang-format -i $(FMT_FILES)

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bench/bench.sh

clean:
	rm -rf build bin
