# logagg — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/logagg/logagg/shared/app.Version=$(VERSION)
PORT ?= 8080
DB_NAME ?= logagg
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/$(DB_NAME)?sslmode=disable
export REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_TIMEOUT ?= 14m

.DEFAULT_GOAL := help

# Each concern with several targets keeps them in its own file under mk/.
include $(sort $(wildcard mk/*.mk))
.PHONY: help services browser syslog-ng run build test test-short clean

help: ## List the targets
	@# Colour only on a terminal, so that `make help | less` and logs get plain text.
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "}; {printf "  %s%-22s%s %s\n", on, $$1, off, $$2}'

services: ## Make sure PostgreSQL and Redis answer on 127.0.0.1 (starts or installs them)
	@scripts/services.sh

browser: ## Make sure headless Chromium is installed, for the dashboard's browser test (installs it with apt)
	@scripts/browser.sh

syslog-ng: ## Make sure syslog-ng and its http() destination are installed, for the shipper's test (installs them with apt)
	@scripts/syslog-ng.sh

run: services build ## Run the whole service on :8080 (PORT), creating its database
	@# The compose services create the database themselves; a local server may need it created.
	@if command -v psql >/dev/null; then \
		psql "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" -qtAc \
			"SELECT 1 FROM pg_database WHERE datname = '$(DB_NAME)'" | grep -q 1 || \
		psql "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" -qc "CREATE DATABASE $(DB_NAME)"; \
	fi
	PORT=$(PORT) bin/localrun

build: ## Build bin/localrun and bin/publisher
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/localrun ./localrun
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/publisher ./publisher

test: services browser syslog-ng ## Run every test (unit, integration, the dashboard in Chromium and syslog-ng shipping to logagg) against the real PostgreSQL and Redis
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short: ## Run the tests that need no server
	$(GO) test -short -count=1 ./...

clean: ## Remove build output
	rm -rf bin .aws-sam
