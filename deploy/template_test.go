// Package deploy_test checks the deployment files against what the code
// needs: template.yaml against AWS's SAM schema and the rules the schema
// cannot express, docker-compose.yml against localrun.
package deploy_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/logagg/logagg/internal/modroot"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/sqsqueue"
	"github.com/logagg/logagg/shared/store"
)

type obj = map[string]any

// loadTemplate reads template.yaml as JSON values, with CloudFormation's
// short-form tags expanded (!Ref X → {"Ref": "X"}, !GetAtt A.B →
// {"Fn::GetAtt": ["A", "B"]}, !Name v → {"Fn::Name": v}).
func loadTemplate(t *testing.T) obj {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(modroot.ForTest(t), "template.yaml"))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	v, err := fromYAML(&doc)
	require.NoError(t, err)
	tpl, ok := v.(obj)
	require.True(t, ok, "template.yaml is not a mapping")
	return tpl
}

func fromYAML(n *yaml.Node) (any, error) {
	if n.Kind == yaml.DocumentNode {
		return fromYAML(n.Content[0])
	}
	if n.Kind == yaml.AliasNode {
		return fromYAML(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := n.Tag[1:]
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		v, err := fromYAML(&plain)
		if err != nil {
			return nil, err
		}
		switch name {
		case "Ref":
			return obj{"Ref": v}, nil
		case "GetAtt":
			if s, ok := v.(string); ok {
				res, attr, _ := strings.Cut(s, ".")
				return obj{"Fn::GetAtt": []any{res, attr}}, nil
			}
		case "Condition":
			return obj{"Condition": v}, nil
		}
		return obj{"Fn::" + name: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := obj{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := fromYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[n.Content[i].Value] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			v, err := fromYAML(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

// samSchema compiles AWS's SAM schema; its path is SAM_SCHEMA, by default
// ../shared/schemas/sam.schema.json from the module root. Without it the
// test skips, except in CI, where it fails.
func samSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	path := os.Getenv("SAM_SCHEMA")
	if path == "" {
		path = filepath.Join(modroot.ForTest(t), "..", "shared", "schemas", "sam.schema.json")
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the SAM schema is missing (set SAM_SCHEMA): %v", err)
		}
		t.Skipf("the SAM schema is not at %s (set SAM_SCHEMA to validate template.yaml): %v", path, err)
	}
	c := jsonschema.NewCompiler()
	// The schema's patterns use ECMAScript look-ahead, which Go's regexp lacks.
	c.UseRegexpEngine(func(s string) (jsonschema.Regexp, error) {
		re, err := regexp2.Compile(s, regexp2.ECMAScript)
		if err != nil {
			return nil, err
		}
		return ecmaRegexp{re}, nil
	})
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	sch, err := c.Compile(abs)
	require.NoError(t, err)
	return sch
}

type ecmaRegexp struct{ re *regexp2.Regexp }

func (r ecmaRegexp) MatchString(s string) bool {
	ok, err := r.re.MatchString(s)
	return err == nil && ok
}

func (r ecmaRegexp) String() string { return r.re.String() }

// asInstance turns Go values into what the validator expects.
func asInstance(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return inst
}

func TestTemplateMatchesTheSAMSchema(t *testing.T) {
	t.Parallel()
	sch := samSchema(t)
	tpl := loadTemplate(t)
	require.NoError(t, sch.Validate(asInstance(t, tpl)))

	// The validation is not vacuous: a misspelt property fails it.
	bad := loadTemplate(t)
	resource(t, bad, "PublishFunction")["Properties"].(obj)["Handlr"] = "bootstrap"
	require.Error(t, sch.Validate(asInstance(t, bad)), "a misspelt function property passed the schema")
}

func resource(t *testing.T, tpl obj, id string) obj {
	t.Helper()
	resources, _ := tpl["Resources"].(obj)
	r, ok := resources[id].(obj)
	require.True(t, ok, "no resource %s", id)
	return r
}

func resourcesOfType(tpl obj, typ string) map[string]obj {
	out := map[string]obj{}
	resources, _ := tpl["Resources"].(obj)
	for id, r := range resources {
		if r, ok := r.(obj); ok && r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// merge applies SAM's Globals: a function's own value wins, maps merge.
func merge(global, own any) any {
	g, gok := global.(obj)
	o, ook := own.(obj)
	if !gok || !ook || isIntrinsic(g) || isIntrinsic(o) {
		if own != nil {
			return own
		}
		return global
	}
	out := obj{}
	for k, v := range g {
		out[k] = v
	}
	for k, v := range o {
		out[k] = merge(g[k], v)
	}
	return out
}

func isIntrinsic(m obj) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// functions returns every AWS::Serverless::Function's properties with the
// Globals applied.
func functions(t *testing.T, tpl obj) map[string]obj {
	t.Helper()
	globals, _ := tpl["Globals"].(obj)
	globalFn, _ := globals["Function"].(obj)
	out := map[string]obj{}
	for id, r := range resourcesOfType(tpl, "AWS::Serverless::Function") {
		props, _ := r["Properties"].(obj)
		out[id] = merge(globalFn, props).(obj)
	}
	require.NotEmpty(t, out)
	return out
}

// eventSource is one event source of a function in the template.
type eventSource struct {
	function string // the function's logical ID
	fn       obj    // the function's properties, Globals applied
	name     string // the event's name
	props    obj    // the event's properties
}

// eventSources lists the template's event sources of type typ.
func eventSources(t *testing.T, tpl obj, typ string) []eventSource {
	t.Helper()
	var out []eventSource
	for id, fn := range functions(t, tpl) {
		events, _ := fn["Events"].(obj)
		for name, ev := range events {
			ev := ev.(obj)
			if ev["Type"] == typ {
				props, _ := ev["Properties"].(obj)
				out = append(out, eventSource{function: id, fn: fn, name: name, props: props})
			}
		}
	}
	return out
}

// functionDir is the directory under functions/ that a function's build
// target builds: PublishFunction → publish.
func functionDir(id string) string {
	return strings.ToLower(strings.TrimSuffix(id, "Function"))
}

func num(t *testing.T, tpl obj, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		require.NoError(t, err, "not a number: %q", x)
		return f
	case obj:
		// A parameter: its default.
		name, ok := x["Ref"].(string)
		require.True(t, ok, "not a number or a parameter: %v", x)
		params, _ := tpl["Parameters"].(obj)
		p, ok := params[name].(obj)
		require.True(t, ok, "no parameter %s", name)
		return num(t, tpl, p["Default"])
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

func getAtt(v any) (resource, attr string) {
	m, _ := v.(obj)
	parts, _ := m["Fn::GetAtt"].([]any)
	if len(parts) != 2 {
		return "", ""
	}
	r, _ := parts[0].(string)
	a, _ := parts[1].(string)
	return r, a
}

func TestEveryFunctionIsBuiltByItsMakeTarget(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	root := modroot.ForTest(t)
	fns := functions(t, tpl)

	var inTemplate, inTree []string
	for id := range fns {
		inTemplate = append(inTemplate, functionDir(id))
	}
	mains, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	require.NoError(t, err)
	for _, m := range mains {
		inTree = append(inTree, filepath.Base(filepath.Dir(m)))
	}
	require.ElementsMatch(t, inTree, inTemplate, "every function under functions/ is in template.yaml, and only those")

	for id, props := range fns {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, "provided.al2023", props["Runtime"])
			require.Equal(t, []any{"arm64"}, props["Architectures"])
			require.Equal(t, "bootstrap", props["Handler"])
			require.Equal(t, ".", props["CodeUri"], "sam build runs the Makefile at the module root")
			meta, _ := resource(t, tpl, id)["Metadata"].(obj)
			require.Equal(t, "makefile", meta["BuildMethod"])

			// What sam build does: make build-<LogicalId> with ARTIFACTS_DIR.
			testenv.SkipShort(t, "a build of the bootstrap")
			out := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "make", "-s", "build-"+id, "ARTIFACTS_DIR="+out)
			cmd.Dir = root
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "make build-%s:\n%s", id, b)
			f, err := elf.Open(filepath.Join(out, "bootstrap"))
			require.NoError(t, err, "make build-%s left no bootstrap in ARTIFACTS_DIR", id)
			defer f.Close()
			require.Equal(t, elf.EM_AARCH64, f.Machine, "built for arm64")
			for _, p := range f.Progs {
				require.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary: provided.al2023 has no Go toolchain libraries to link against")
			}
		})
	}
}

func TestTheQueueFeedsTheConsumerSafely(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	sources := eventSources(t, tpl, "SQS")
	require.Len(t, sources, 1, "one SQS event source")
	for _, src := range sources {
		require.Contains(t, src.props["FunctionResponseTypes"], "ReportBatchItemFailures",
			"%s.%s: without it one failed message makes SQS redeliver the whole batch", src.function, src.name)
		batch := num(t, tpl, src.props["BatchSize"])
		require.GreaterOrEqual(t, batch, 1.0)
		require.LessOrEqual(t, batch, 10000.0)
		window := num(t, tpl, src.props["MaximumBatchingWindowInSeconds"])
		require.LessOrEqual(t, window, 300.0)
		if batch > 10 {
			require.Positive(t, window, "a BatchSize over 10 needs a batching window")
		}
		scaling, _ := src.props["ScalingConfig"].(obj)
		require.NotNil(t, scaling, "%s.%s: MaximumConcurrency bounds the consumers, and so PostgreSQL's connections", src.function, src.name)
		require.GreaterOrEqual(t, num(t, tpl, scaling["MaximumConcurrency"]), 2.0)

		queueID, attr := getAtt(src.props["Queue"])
		require.Equal(t, "Arn", attr)
		queue := resource(t, tpl, queueID)
		require.Equal(t, "AWS::SQS::Queue", queue["Type"])
		qp := queue["Properties"].(obj)
		timeout := num(t, tpl, src.fn["Timeout"])
		require.GreaterOrEqual(t, num(t, tpl, qp["VisibilityTimeout"]), 6*timeout+window,
			"the queue's visibility timeout must be at least six times %s's Timeout (plus the batching window)", src.function)

		redrive, _ := qp["RedrivePolicy"].(obj)
		require.NotNil(t, redrive, "the queue needs a dead-letter queue")
		receives := num(t, tpl, redrive["maxReceiveCount"])
		require.GreaterOrEqual(t, receives, 5.0)
		vars := envVars(src.fn)
		if md, ok := vars["MAX_DELIVERIES"]; ok {
			require.Greater(t, receives, num(t, tpl, md),
				"SQS must not take a message away before the function dead-letters it in PostgreSQL")
		}
		dlq, _ := getAtt(redrive["deadLetterTargetArn"])
		require.NotEqual(t, queueID, dlq)
		require.Equal(t, "AWS::SQS::Queue", resource(t, tpl, dlq)["Type"])
	}
}

func envVars(props obj) obj {
	env, _ := props["Environment"].(obj)
	vars, _ := env["Variables"].(obj)
	return vars
}

func TestEveryVariableTheFunctionsReadIsSet(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	for id, props := range functions(t, tpl) {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			use := lambdaEnv(t, functionDir(id))
			vars := envVars(props)
			for _, v := range use.needed {
				require.Contains(t, vars, v, "functions/%s reads %s: template.yaml must set it", functionDir(id), v)
			}
			for _, v := range use.localOnly {
				require.NotContains(t, vars, v, "%s only reaches Redis (the local path); set in the cloud it would switch %s to Redis", v, id)
			}
			if v, ok := vars["MAX_EVENT_BYTES"]; ok {
				require.LessOrEqual(t, num(t, tpl, v), float64(sqsqueue.MaxBatchBytes), "one event must fit one SQS message")
			}
			if v, ok := vars["MAX_BODY_BYTES"]; ok {
				require.LessOrEqual(t, num(t, tpl, v), float64(6<<20), "Lambda's invocation payload is at most 6 MB")
			}
		})
	}
}

// TestRoutesMatchTheHandlers builds each function's API the way its main
// does and checks that API Gateway sends every route to a function that
// serves it.
func TestRoutesMatchTheHandlers(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	var st *store.Store // the handlers are only listed, never called
	served := map[string]map[string]bool{
		"QueryFunction":   routesOf(api.New(api.Deps{Reader: st, DeadLetters: st})),
		"PublishFunction": routesOf(api.New(api.Deps{Publisher: (*sqsqueue.Queue)(nil), DeadLetters: st})),
	}
	routed := map[string]string{} // "METHOD /path" or "$default" → function
	for _, src := range eventSources(t, tpl, "HttpApi") {
		require.Equal(t, obj{"Ref": "HttpApi"}, src.props["ApiId"], "%s.%s is on the template's HTTP API", src.function, src.name)
		key := "$default"
		if src.props["Path"] != nil || src.props["Method"] != nil {
			key = strings.ToUpper(fmt.Sprint(src.props["Method"])) + " " + fmt.Sprint(src.props["Path"])
			require.True(t, served[src.function][key], "%s routes %s, which it does not serve", src.function, key)
		}
		other, dup := routed[key]
		require.False(t, dup, "%s is routed to both %s and %s", key, other, src.function)
		routed[key] = src.function
	}
	for route := range served["QueryFunction"] {
		require.Equal(t, "QueryFunction", routed[route], "%s is served by the query function", route)
	}
	for route := range served["PublishFunction"] {
		if !served["QueryFunction"][route] {
			require.Equal(t, "PublishFunction", routed[route], "%s is served only by the publish function", route)
		}
	}
	require.Equal(t, "PublishFunction", routed["POST /publish"])
	require.Equal(t, "QueryFunction", routed["$default"], "unknown paths get logagg's own JSON errors")
}

func routesOf(s *api.Server) map[string]bool {
	out := map[string]bool{}
	for path, methods := range s.Paths() {
		for _, m := range methods {
			out[m+" "+path] = true
		}
	}
	return out
}

func TestPermissionsAreLeast(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	actions := map[string][]string{}
	for id, props := range functions(t, tpl) {
		policies, ok := props["Policies"].([]any)
		require.True(t, ok, "%s states its policies (an empty list for none)", id)
		for _, p := range policies {
			doc, ok := p.(obj)
			require.True(t, ok, "%s: only inline statements, no managed policy: %v", id, p)
			for _, s := range doc["Statement"].([]any) {
				s := s.(obj)
				require.Equal(t, "Allow", s["Effect"])
				for _, a := range asList(s["Action"]) {
					a := a.(string)
					require.NotContains(t, a, "*", "%s: action %s", id, a)
					actions[id] = append(actions[id], a)
				}
				for _, r := range asList(s["Resource"]) {
					require.NotEqual(t, "*", r, "%s: every statement names its resource", id)
				}
			}
		}
	}
	slices.Sort(actions["PublishFunction"])
	require.Equal(t, []string{"sqs:GetQueueAttributes", "sqs:SendMessage"}, actions["PublishFunction"])
	require.Empty(t, actions["QueryFunction"])
	require.Empty(t, actions["MaintainFunction"])
	require.Empty(t, actions["ConsumeFunction"], "the SQS event source brings its own poller permissions")
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func TestParametersAndOutputs(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	params := tpl["Parameters"].(obj)
	for _, secret := range []string{"DatabaseUrl", "ApiKeys"} {
		p, ok := params[secret].(obj)
		require.True(t, ok, "parameter %s", secret)
		require.Equal(t, true, p["NoEcho"], "%s is a secret", secret)
	}
	require.Contains(t, params, "DatabaseSecretArn")
	outputs := tpl["Outputs"].(obj)
	require.Contains(t, outputs, "ApiUrl")
	require.Contains(t, outputs, "QueueUrl")
}

// templateEnv is the environment the template gives a function, parameters
// at their defaults; a value that only the deployment knows (a resource's
// URL, a secret) is left out.
func templateEnv(t *testing.T, tpl obj, fn obj) map[string]string {
	t.Helper()
	params, _ := tpl["Parameters"].(obj)
	env := map[string]string{}
	for name, v := range envVars(fn) {
		if ref, ok := v.(obj); ok {
			p, isParam := params[fmt.Sprint(ref["Ref"])].(obj)
			if !isParam {
				continue
			}
			v = p["Default"]
		}
		env[name] = fmt.Sprint(v)
	}
	return env
}

// Every function starts with the template's settings: each one parses and
// they agree with each other (DEDUP_WINDOW at least RETENTION, for one).
func TestTemplateSettingsLoad(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	for id, fn := range functions(t, tpl) {
		env := templateEnv(t, tpl, fn)
		_, err := config.Load(func(name string) string { return env[name] })
		require.NoError(t, err, "%s's environment in template.yaml", id)
	}
}

// The maintain function runs on a schedule, with the time a long pass
// needs, and keeps the ledger longer than the queue keeps a message.
func TestTheStoreIsMaintainedOnASchedule(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	sources := eventSources(t, tpl, "Schedule")
	require.Len(t, sources, 1, "one scheduled function")
	src := sources[0]
	require.Equal(t, "MaintainFunction", src.function)
	require.NotEmpty(t, src.props["Schedule"])
	require.GreaterOrEqual(t, num(t, tpl, src.fn["Timeout"]), 300.0, "the first pass after the migration closes the migrated partition")
	require.GreaterOrEqual(t, num(t, tpl, envVars(src.fn)["DB_MAX_CONNS"]), 2.0, "a pass holds a connection for its lock and works on another")

	env := templateEnv(t, tpl, src.fn)
	cfg, err := config.Load(func(name string) string { return env[name] })
	require.NoError(t, err)
	for _, consumed := range eventSources(t, tpl, "SQS") {
		id, _ := getAtt(consumed.props["Queue"])
		kept := time.Duration(num(t, tpl, resource(t, tpl, id)["Properties"].(obj)["MessageRetentionPeriod"])) * time.Second
		require.Greater(t, cfg.LedgerRetention, kept, "the ledger outlives every message of %s, so that a redelivery is recognised", id)
	}
}
