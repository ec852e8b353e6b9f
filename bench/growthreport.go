package main

import (
	"fmt"
	"math"
	"time"
)

// growthSchemaVersion changes when a field of growthReport changes meaning
// or goes away.
const growthSchemaVersion = 1

// The goals of issue 12, checked at the largest size measured.
const (
	goalGrowthIngestRatio    = 0.9 // of the empty store's rate
	goalGrowthReadP99Ms      = 50
	goalRetentionPassSeconds = 5
	goalRetentionIngestRatio = 0.8 // of the rate without the pass
)

// growthReport is `bench growth`'s result, written as JSON.
type growthReport struct {
	Schema    int             `json:"schema"`
	StartedAt time.Time       `json:"started_at"`
	Seconds   num             `json:"duration_seconds"`
	Commit    string          `json:"commit"`
	Changes   []string        `json:"uncommitted_files"`
	Machine   machine         `json:"machine"`
	Settings  growthSettings  `json:"settings"`
	Sizes     []growthSize    `json:"sizes"`
	Retention *retentionPhase `json:"retention"` // null when skipped
	Targets   []target        `json:"targets"`
	Chart     string          `json:"chart,omitempty"`
	Notes     []string        `json:"notes"`
}

type growthSettings struct {
	Sizes         []int    `json:"sizes"`
	Events        int      `json:"events_per_run"`
	Runs          int      `json:"runs"`
	Reads         int      `json:"reads_per_shape"`
	CursorPage    int      `json:"cursor_page"`
	RetentionDrop int      `json:"retention_drop_target"`
	RetentionKeys bool     `json:"retention_forgets_keys"`
	DupRate       float64  `json:"dup_rate"`
	RequestEvents int      `json:"request_events"`
	Concurrency   int      `json:"concurrency"`
	Pipeline      pipeline `json:"pipeline"`
	MaxBacklog    int64    `json:"max_backlog"`
	LocalrunEnv   []string `json:"localrun_env"`
}

// growthSize is everything measured with one size preloaded.
type growthSize struct {
	Preloaded           int        `json:"preloaded_events"`
	PreloadSeconds      num        `json:"preload_seconds"`
	PreloadEventsPerSec num        `json:"preload_events_per_sec"`
	Close               *closePass `json:"close_pass"` // null when it failed
	Disk                *diskUsage `json:"disk"`       // null for an empty store
	Planning            *planning  `json:"planning"`
	// Stored are the ingest runs into the preloaded database, Empty those
	// into empty ones, alternating; Ratio is Stored's median end-to-end
	// events/s over Empty's.
	Stored        phase        `json:"ingest_stored"`
	Empty         phase        `json:"ingest_empty"`
	Ratio         num          `json:"ingest_ratio_stored_to_empty"`
	StoredAtReads int64        `json:"events_stored_at_reads"` // the preloaded ones and those the runs stored
	Reads         []readResult `json:"reads"`
	Error         string       `json:"error,omitempty"`
}

// closePass is the maintenance pass after the preload, which closes every
// partition whose range has ended.
type closePass struct {
	Seconds    num `json:"seconds"`
	Partitions int `json:"partitions_closed"`
}

func newGrowthSize(n int) growthSize {
	return growthSize{Preloaded: n, PreloadSeconds: nan(), PreloadEventsPerSec: nan(), Ratio: nan()}
}

// retentionPhase is the retention pass on the full store and the load
// around it.
type retentionPhase struct {
	Preloaded        int       `json:"preloaded_events"`
	StoredBefore     int64     `json:"events_stored_before"`
	TargetEvents     int       `json:"target_events"`
	ForgetsKeys      bool      `json:"forgets_keys"` // DEDUP_WINDOW = RETENTION
	Cutoff           time.Time `json:"cutoff"`       // the partitions processed before it are dropped
	RetentionSeconds num       `json:"retention_seconds"`
	PartitionsToDrop int       `json:"partitions_to_drop"`
	// EventsDropped is counted before the pass; EventsLeft after it, of
	// those processed before the cutoff (0 when the pass did its job).
	EventsDropped     int64 `json:"events_dropped"`
	EventsLeft        int64 `json:"events_left_before_cutoff"`
	PartitionsDropped int   `json:"partitions_dropped"`
	KeysForgotten     int64 `json:"keys_forgotten"`
	Seconds           num   `json:"pass_seconds"`
	// RestedSeconds is the part of Seconds the pass paused between the
	// steps of its drops, for ingest's sake.
	RestedSeconds num `json:"pass_rested_seconds"`
	// Steps is how long each step of the pass took (store.MaintenanceSteps).
	Steps   *passSteps `json:"pass_steps_seconds,omitempty"`
	Retries int        `json:"pass_retries"` // passes skipped for another process's
	// The load: With is the run the pass ran beside, Without the runs
	// before and after it.
	With    runResult   `json:"run_with_pass"`
	Without []runResult `json:"runs_without_pass"`
	// RateDuring is the events received per second from the pass's start,
	// from /stats, over Span: the pass's duration, a second at least, cut
	// short if the load ended first. RateWithout is the median over the
	// same span of the runs without it, from the same point of the load.
	RateDuring  num    `json:"received_per_sec_during_pass"`
	RateWithout num    `json:"received_per_sec_same_span_without"`
	Span        num    `json:"rate_span_seconds"`
	Ratio       num    `json:"ratio_during_pass_to_without"`
	E2ERatio    num    `json:"e2e_ratio_with_to_without"`
	Error       string `json:"error,omitempty"`
}

// passSteps is store.MaintenanceSteps in seconds.
type passSteps struct {
	Partitions  num `json:"partitions_ahead"`
	Dropping    num `json:"dropping"`
	Closing     num `json:"closing"`
	Analyzing   num `json:"analyzing"`
	Summarising num `json:"summarising_brin"`
	Pruning     num `json:"pruning"`
}

func newRetentionPhase(n int, g growthConfig) *retentionPhase {
	return &retentionPhase{
		Preloaded: n, TargetEvents: g.retentionDrop, ForgetsKeys: g.retentionKeys,
		RetentionSeconds: nan(), Seconds: nan(), RestedSeconds: nan(), RateDuring: nan(), RateWithout: nan(), Span: nan(), Ratio: nan(), E2ERatio: nan(),
	}
}

// fill computes the pass's figures once the runs are done.
func (rp *retentionPhase) fill(with *retentionRun, without []*retentionRun, left int64) {
	rp.EventsLeft = left
	rp.Retries = with.retries
	if with.pass != nil {
		rp.PartitionsDropped = len(with.pass.Dropped)
		rp.KeysForgotten = with.pass.Keys
		rp.RestedSeconds = num(with.pass.Rested.Seconds())
		sp := with.pass.Spent
		rp.Steps = &passSteps{num(sp.Partitions.Seconds()), num(sp.Dropping.Seconds()), num(sp.Closing.Seconds()),
			num(sp.Analyzing.Seconds()), num(sp.Summarising.Seconds()), num(sp.Pruning.Seconds())}
	}
	rp.Seconds = num(with.passFor.Seconds())
	during, span := with.series.rate(with.passAt, with.passFor)
	rp.RateDuring, rp.Span = num(during), num(span.Seconds())
	var rates []float64
	for _, w := range without {
		if w.stride.IsZero() {
			continue
		}
		r, _ := w.series.rate(w.stride, span)
		rates = append(rates, r)
	}
	rp.RateWithout = num(median(rates))
	rp.Ratio = num(ratio(during, float64(rp.RateWithout)))
	rp.E2ERatio = num(ratio(float64(rp.With.E2EEventsPerSec), float64(summarize(rp.Without).E2EEventsPerSec)))
}

// evaluateGrowthTargets checks the largest size's figures against the goals.
func evaluateGrowthTargets(rep *growthReport) []target {
	if len(rep.Sizes) == 0 {
		return nil
	}
	sz := rep.Sizes[len(rep.Sizes)-1]
	at := fmt.Sprintf("at %s stored", shortCount(float64(sz.Preloaded)))
	check := func(name, goal string, value num, unit string, pass bool) target {
		t := target{Name: name, Goal: goal, Value: value, Unit: unit, Status: statusNotMeasured}
		if !math.IsNaN(float64(value)) {
			t.Status = statusFail
			if pass {
				t.Status = statusPass
			}
		}
		return t
	}
	worst, worstName, unmeasured := nan(), "", 0
	for _, r := range sz.Reads {
		if r.Errors > 0 || math.IsNaN(float64(r.P99Ms)) {
			unmeasured++
			continue
		}
		if math.IsNaN(float64(worst)) || r.P99Ms > worst {
			worst, worstName = r.P99Ms, r.Name
		}
	}
	readName := fmt.Sprintf("read p99 %s, ingest idle, worst shape", at)
	if worstName != "" {
		readName += " (" + worstName + ")"
	}
	if unmeasured > 0 {
		// A shape that failed or was not measured cannot pass.
		readName += fmt.Sprintf("; %d shapes not measured or failing", unmeasured)
	}
	targets := []target{
		check(fmt.Sprintf("end-to-end ingest %s, against an empty store in alternating runs", at),
			fmt.Sprintf("≥ %.0f%%", goalGrowthIngestRatio*100), sz.Ratio, "%", float64(sz.Ratio) >= goalGrowthIngestRatio),
		check(readName, fmt.Sprintf("≤ %d ms", goalGrowthReadP99Ms), worst, "ms", float64(worst) <= goalGrowthReadP99Ms && unmeasured == 0),
	}
	passSeconds, passRatio, dropped := nan(), nan(), "the events"
	if rp := rep.Retention; rp != nil && rp.Error == "" {
		passSeconds, passRatio = rp.Seconds, rp.Ratio
		dropped = sizeName(int(rp.EventsDropped))
	}
	targets = append(targets,
		check("retention pass dropping "+dropped, fmt.Sprintf("< %d s", goalRetentionPassSeconds), passSeconds, "s",
			float64(passSeconds) < goalRetentionPassSeconds),
		check("ingest while the retention pass runs, against the same span without it", fmt.Sprintf("≥ %.0f%%", goalRetentionIngestRatio*100),
			passRatio, "%", float64(passRatio) >= goalRetentionIngestRatio),
	)
	wrong, measured := 0, 0
	for _, r := range growthRuns(rep) {
		if r.Error != "" {
			continue
		}
		measured++
		if !r.ExactlyOnce {
			wrong++
		}
	}
	wrongRuns := nan()
	if measured > 0 {
		wrongRuns = num(wrong)
	}
	return append(targets, check("exactly once: runs whose stored events differ from the distinct events sent", "0 runs",
		wrongRuns, "runs", wrong == 0))
}

// growthRuns are every ingest run of the report.
func growthRuns(rep *growthReport) []runResult {
	var all []runResult
	for _, sz := range rep.Sizes {
		all = append(append(all, sz.Stored.Runs...), sz.Empty.Runs...)
	}
	if rp := rep.Retention; rp != nil {
		if rp.With.Label != "" {
			all = append(all, rp.With)
		}
		all = append(all, rp.Without...)
	}
	return all
}
