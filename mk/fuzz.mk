# Fuzzing. Each `go test -fuzz` run takes one target, so the targets run one
# after another: the publish round trip through PostgreSQL (anything
# /publish accepts, /events gives back) for FUZZTIME, then the event
# decoder's own targets for FUZZTIME_EVENT each. An input that fails is
# written to the package's testdata/fuzz/<target>/: commit it with the fix,
# and plain `go test` keeps running it as a seed.
.PHONY: fuzz

FUZZTIME ?= 30s
FUZZTIME_EVENT ?= 5s
# How long shrinking each new input may take; Go's default of 60s would
# spend a short run shrinking instead of exploring.
FUZZMINIMIZETIME ?= 5s
FUZZFLAGS = -run '^$$' -fuzzminimizetime $(FUZZMINIMIZETIME)

fuzz: services ## Fuzz for about 40 s: publish → PostgreSQL → /events round trip (FUZZTIME=30s), then the decoders (FUZZTIME_EVENT=5s each)
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzPublishRoundTrip$$' -fuzztime $(FUZZTIME) ./shared/api
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME_EVENT) ./shared/event
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzValidJSON$$' -fuzztime $(FUZZTIME_EVENT) ./shared/event
