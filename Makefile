# provision - build, test, lint, bench.
#
#   make            build bin/provision
#   make deps       install what is missing (Debian packages, npm packages for tests;
#                   libssh2 1.11 into build/libssh2 when the system's is older)
#   make test       deps + build + lint + unit tests + end-to-end tests on local hosts
#   make demo       deps + build + a hardened local host from inventory.example.yml
#   make bench      converge timings for 1, 4 and 16 local hosts
#   make bench-vm   boot-to-SSH, converge and reboot times of a qemu VM (minutes under TCG)
#   make bench-failover  10 Patroni failovers in a row on local hosts: p50/p95/max
#   make lint       clang-format check
#   make install    bin/provision, roles, templates, man pages, completion under
#                   $(DESTDIR)$(PREFIX) (PREFIX=/usr/local); make uninstall removes them
#   make deb        build/provision_VERSION_ARCH.deb (apt install ./build/provision_*.deb)
#   make fuzz       libFuzzer targets (clang) and their seed corpora, then a short run

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(DESTDIR)$(PREFIX)/bin
DATADIR := $(DESTDIR)$(PREFIX)/share/provision
MANDIR := $(DESTDIR)$(PREFIX)/share/man
BASHCOMPDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
comma := ,
PKGS := libssh2 yaml-0.1 libcurl openssl libarchive jansson
# make deps builds libssh2 1.11 into build/libssh2 when the system's is older
# (packaging/libssh2.sh); when it is there the build links it, statically.
LIBSSH2_STAMP := $(wildcard build/libssh2/.built-*)
PKG_CONFIG_ENV := $(if $(LIBSSH2_STAMP),PKG_CONFIG_PATH=$(CURDIR)/build/libssh2/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)))
PKG_CFLAGS := $(shell $(PKG_CONFIG_ENV) pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG_ENV) pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	  -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing -Iinclude $(PKG_CFLAGS)
# the built-in libssh2's symbols stay inside the binary: libcurl keeps the
# system's libssh2 for itself, and neither calls into the other
LDLIBS += $(PKG_LIBS) $(if $(LIBSSH2_STAMP),-Wl$(comma)--exclude-libs$(comma)libssh2.a) -lpthread

# provision/ is grouped by layer: cli (main, commands, output), core,
# inventory (model, variables, templates), engine (roles to scripts, SSH,
# resources), providers, postgres.
SRC := $(sort $(wildcard provision/*/*.c))
OBJ := $(patsubst provision/%.c,build/obj/%.o,$(SRC))
LIBOBJ := $(filter-out build/obj/cli/main.o,$(OBJ))
HDR := $(wildcard include/provision/*.h provision/*/*.h)
UNIT_SRC := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,build/unit/%,$(UNIT_SRC))
FMT_FILES := $(SRC) $(HDR) $(wildcard tests/unit/*.c tests/unit/*.h tests/helpers/*.c tests/fuzz/*.c)

.PHONY: all deps test test-all unit e2e lint format demo bench bench-vm bench-failover clean check-deps install uninstall deb fuzz fuzz-build fuzz-smoke

all: bin/provision

# built without 'make deps' against a libssh2 older than 1.11: said, not silent
LIBSSH2_OLD := $(if $(LIBSSH2_STAMP)$(filter 1,$(PROVISION_SYSTEM_LIBSSH2)),,$(shell pkg-config --atleast-version=1.11 libssh2 2>/dev/null || echo old))

bin/provision: $(OBJ)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDLIBS)
	$(if $(LIBSSH2_OLD),@echo "warning: linked with the system's libssh2 $$(pkg-config --modversion libssh2) (no encrypt-then-MAC MACs): hosts hardened by this build keep offering hmac-sha2-256/512; 'make deps' builds libssh2 1.11 (PROVISION_SYSTEM_LIBSSH2=1 keeps this one and says nothing)" >&2)

build/obj/%.o: provision/%.c $(HDR) $(LIBSSH2_STAMP) | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

build/unit/%: tests/unit/%.c tests/unit/check.h $(wildcard tests/unit/*.h) $(LIBOBJ)
	@mkdir -p build/unit
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBOBJ) $(LDLIBS)

check-deps:
	@pkg-config --exists $(PKGS) || { echo "missing libraries: run 'make deps'" >&2; exit 2; }

deps:
	@tests/deps.sh
	@packaging/libssh2.sh

unit: $(UNIT_BIN)
	@tests/run-unit.sh $(UNIT_BIN)

e2e: bin/provision
	@tests/run.sh

# The suite as CI runs it (the extended suite's scripts left out).
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory fuzz
	@tests/run.sh --with-unit $(UNIT_BIN)

# Every script, the extended suite's too.
test-all:
	@PV_SUITE=all $(MAKE) --no-print-directory test

# Fuzzing: the inventory loader and the template engine under libFuzzer with
# AddressSanitizer and UndefinedBehaviorSanitizer.  Seeds come from the
# repository's own inventories, roles and templates.  'make fuzz' builds and
# runs each target for FUZZ_RUNS inputs; see the README for longer runs.
FUZZ_CC ?= clang
FUZZ_RUNS ?= 3000
FUZZ_TARGETS := inventory template
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -g -O1 -std=c17 -D_GNU_SOURCE -Wall -Wno-unused-parameter -Iinclude \
	       $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_OBJ := $(patsubst provision/%.c,build/fuzz/obj/%.o,$(filter-out provision/cli/main.c,$(SRC)))
FUZZ_BIN := $(patsubst %,build/fuzz/fuzz-%,$(FUZZ_TARGETS))
FUZZ_SEED_SRC := inventory.example.yml $(wildcard roles/*/role.yml templates/* tests/e2e/*.sh)

.SECONDARY: $(FUZZ_OBJ)

build/fuzz/obj/%.o: provision/%.c $(HDR) | check-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

build/fuzz/seeds-%.stamp: tests/fuzz/seeds.py $(FUZZ_SEED_SRC)
	@rm -rf build/fuzz/seeds-$*
	@tests/fuzz/seeds.py $* build/fuzz/seeds-$*
	@touch $@

fuzz-build: $(FUZZ_BIN) $(patsubst %,build/fuzz/seeds-%.stamp,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_RUNS) $(FUZZ_TARGETS)

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

bench-vm: deps
	@$(MAKE) --no-print-directory all
	@bench/bench-vm.sh

bench-failover: deps
	@$(MAKE) --no-print-directory all
	@bench/bench-failover.sh

# Roles and templates go to $(PREFIX)/share/provision, where the installed
# binary looks first (next to its bin/); $PROVISION_DATA_DIR overrides that.
install: bin/provision
	install -d $(BINDIR) $(DATADIR) $(MANDIR)/man1 $(MANDIR)/man5 $(BASHCOMPDIR) $(ZSHCOMPDIR)
	install -m 0755 bin/provision $(BINDIR)/provision
	rm -rf $(DATADIR)/roles $(DATADIR)/templates
	cp -R roles templates $(DATADIR)/
	chmod -R u=rwX,go=rX $(DATADIR)/roles $(DATADIR)/templates
	install -m 0644 inventory.example.yml $(DATADIR)/inventory.example.yml
	install -m 0644 doc/events.schema.json $(DATADIR)/events.schema.json
	install -m 0644 doc/provision.1 $(MANDIR)/man1/provision.1
	install -m 0644 doc/provision-inventory.5 $(MANDIR)/man5/provision-inventory.5
	install -m 0644 completion/provision.bash $(BASHCOMPDIR)/provision
	install -m 0644 completion/_provision $(ZSHCOMPDIR)/_provision

# A Debian package of the same tree (dpkg-deb): build/provision_VERSION_ARCH.deb
deb: bin/provision
	@PROVISION_CFLAGS='$(CFLAGS)' PROVISION_LDLIBS='$(LDLIBS)' packaging/deb.sh build

uninstall:
	rm -f $(BINDIR)/provision $(MANDIR)/man1/provision.1 $(MANDIR)/man5/provision-inventory.5
	rm -f $(BASHCOMPDIR)/provision $(ZSHCOMPDIR)/_provision
	rm -rf $(DATADIR)

# build/libssh2 stays (make deps built it; rm -rf build/libssh2 to drop it)
clean:
	find build -mindepth 1 -maxdepth 1 ! -name libssh2 -exec rm -rf {} + 2>/dev/null || true
	rm -rf bin
