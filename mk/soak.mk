# The soak: three localrun replicas under a steady load while a nemesis
# kills, pauses and restarts them and restarts PostgreSQL and Redis, on a
# schedule drawn from SOAK_SEED (random when unset; printed first, so that
# a failure can be replayed), and a checker reads /stats throughout. It is
# TestSoak of the fault suite, which `make test-faults` skips; SOAK_DURATION
# is what makes it run. The report (fault timeline, throughput, time to
# drain: soak.json and soak.svg) goes to SOAK_REPORT, a new temporary
# directory when unset; the test prints where.
.PHONY: soak

# Set for the soak's command only: exported, SOAK_DURATION would make
# `make test-faults` run the soak too.
SOAK_DURATION ?= 10m
# Generous beyond SOAK_DURATION, which the drain and the checks follow;
# raise it with a longer soak.
SOAK_TIMEOUT ?= 30m

soak: ## Soak for SOAK_DURATION (10m): 3 replicas under load, kill -9, SIGSTOP, PostgreSQL and Redis restarts from a seed (SOAK_SEED), /stats checked throughout; report in SOAK_REPORT
	$(GO) vet -tags faults ./faults/...
	SOAK_DURATION='$(SOAK_DURATION)' SOAK_SEED='$(SOAK_SEED)' SOAK_REPORT='$(SOAK_REPORT)' SOAK_RATE='$(SOAK_RATE)' \
		$(GO) test -tags faults -count=1 -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' -v ./faults/
