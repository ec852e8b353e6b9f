# Static checks: gofmt, go vet, staticcheck and the package rules of
# internal/archtest, on the default build and on the faults suite's tag.
# staticcheck is pinned in tools/go.mod (a module of its own, so that the
# product's go.mod does not move with it) and built once into bin/tools.
.PHONY: lint tools

STATICCHECK := bin/tools/staticcheck

lint: $(STATICCHECK) ## gofmt, go vet, staticcheck (staticcheck.conf) and the package rules (internal/archtest)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) vet -tags faults ./faults/... ./shared/faultpoint/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags faults ./faults/... ./shared/faultpoint/...
	$(GO) test -count=1 ./internal/archtest

tools: $(STATICCHECK) ## Build the pinned linters (tools/go.mod) into bin/tools

# Rebuilt only when the pin moves; touched because go build leaves an
# up-to-date binary as it was.
$(STATICCHECK): tools/go.mod tools/go.sum
	$(GO) -C tools build -o $(CURDIR)/$@ honnef.co/go/tools/cmd/staticcheck
	@touch $@
