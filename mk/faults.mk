# The fault-injection suite: private PostgreSQL and Redis servers started by
# the tests themselves, localrun as real processes. localrun is built
# without the race detector, so -race would only instrument the harness.
.PHONY: test-faults

test-faults: ## Break it on purpose (kill -9, pauses, PostgreSQL and Redis restarts, network partitions, Redis out of memory, PostgreSQL out of disk and connections, poison, backpressure, SIGTERM) and check exact counts
	scripts/nftables.sh
	$(GO) vet -tags faults ./faults/... ./shared/faultpoint/...
	$(GO) test -tags faults -count=1 -timeout 12m -v ./faults/...
