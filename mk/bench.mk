# Benchmarks: bench/ runs localrun and the publisher as separate processes
# against fresh databases and streams on the local PostgreSQL and Redis.
# BENCH_* variables, in the environment or on make's command line, reach the
# harness: `make bench BENCH_SWEEP=0`, `go run ./bench -h` lists them.
.PHONY: bench bench-quick bench-profile bench-growth bench-growth-quick

bench: services ## Full benchmark (5–10 min): throughput vs the BATCH_SIZE=1 baseline, latency, sweep; writes bench/results/latest.json and docs/bench-throughput.svg
	$(GO) run ./bench

bench-quick: services ## Small benchmark (1–2 min) to check that the harness works; writes bench/results/quick.json
	$(GO) run ./bench -events 50000 -runs 1 -baseline-events 5000 -latency-seconds 5 \
		-sweep-batches 1,100,500 -sweep-workers 1,4 -sweep-events 20000 -sweep-small-events 5000 \
		-out bench/results/quick.json -docs-chart ''

bench-profile: services ## CPU profile of localrun under the main load (1–2 min): one main run, then one profiled for 10 s; prints how to read it
	$(GO) run ./bench -runs 1 -baseline-events 1000 -latency-seconds 0 -sweep=false -profile-seconds 10 \
		-out .bench/profile.json -docs-chart ''

# The growth benchmark is not part of CI: at 20 million events it needs
# about 20 GB of disk (it checks first) and a quarter of an hour.
bench-growth: services ## Growth benchmark (not in CI; ~15 min, ~20 GB disk): ingest, reads, disk and a retention pass with 0, 5M, 20M events preloaded (BENCH_GROWTH_SIZES); writes bench/results/growth-<date>.{json,svg}
	$(GO) run ./bench growth

bench-growth-quick: services ## Small growth benchmark (about a minute) to check that its harness works; writes bench/results/growth-quick.json
	$(GO) run ./bench growth -sizes 0,200000 -events 30000 -runs 1 -reads 50 -cursor-page 10 -retention-drop 100000 -partition-interval 1h \
		-out bench/results/growth-quick.json
