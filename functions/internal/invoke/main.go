// Command invoke builds one Lambda function's real bootstrap for this
// machine and invokes it with an event file under the AWS Lambda Runtime
// Interface Emulator, as `sam local invoke -e` would inside its container.
// The function sees this process's environment (DATABASE_URL, REDIS_URL,
// QUEUE_URL, …). The response goes to stdout, the emulator's and the
// function's logs to stderr. `make invoke FN=consume EVENT=events/consume-sqs.json`
// runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logagg/logagg/functions/internal/rie"
	"github.com/logagg/logagg/internal/modroot"
	"github.com/logagg/logagg/internal/proc"
)

func main() { proc.Main("invoke", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := fs.String("fn", "", "the function: a directory of functions/ (publish, consume, query, maintain)")
	eventFile := fs.String("event", "", "the event to invoke it with, e.g. events/consume-sqs.json")
	rieBin := fs.String("rie", "aws-lambda-rie", "the emulator binary (make rie installs it)")
	timeout := fs.Int("timeout", 30, "the function's timeout in seconds, as in template.yaml")
	createDB := fs.Bool("create-database", false, "create DATABASE_URL's database first if it does not exist")
	if err := proc.ParseFlags(fs, args, "Invokes a Lambda function's bootstrap with an event under the Runtime Interface Emulator.", stderr); err != nil {
		return err
	}
	if *fn == "" || *eventFile == "" {
		return proc.UsageError("-fn and -event are required, e.g. -fn consume -event events/consume-sqs.json")
	}
	payload, err := os.ReadFile(*eventFile)
	if err != nil {
		return err
	}
	if !json.Valid(payload) {
		return fmt.Errorf("%s is not JSON", *eventFile)
	}
	root, err := modroot.Find(".")
	if err != nil {
		return err
	}
	if *createDB {
		if err := ensureDatabase(ctx, getenv("DATABASE_URL")); err != nil {
			return err
		}
	}

	dir := filepath.Join(root, "bin", "rie", *fn)
	bootstrap, err := rie.Build(ctx, root, "./functions/"+*fn, runtime.GOARCH, dir)
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"AWS_LAMBDA_FUNCTION_NAME="+*fn,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(*timeout),
		"AWS_REGION="+getenvOr(getenv, "AWS_REGION", "eu-west-1"),
	)
	em, err := rie.Start(ctx, *rieBin, bootstrap, rie.Options{Env: env, Logs: stderr})
	if err != nil {
		return err
	}
	defer em.Stop()

	ictx, cancel := context.WithTimeout(ctx, time.Duration(*timeout+30)*time.Second)
	defer cancel()
	resp, err := em.Invoke(ictx, payload)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, resp.Body, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(resp.Body)
	}
	fmt.Fprintln(stdout, pretty.String())
	if resp.Status != 200 || isFunctionError(resp.Body) {
		return fmt.Errorf("the function failed (emulator status %d)", resp.Status)
	}
	return nil
}

// isFunctionError reports whether body is Lambda's error object rather
// than the function's result.
func isFunctionError(body []byte) bool {
	var e struct {
		ErrorMessage *string `json:"errorMessage"`
		ErrorType    string  `json:"errorType"`
	}
	return json.Unmarshal(body, &e) == nil && e.ErrorMessage != nil
}

func getenvOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// ensureDatabase creates the database databaseURL names, on the same
// server, when it does not exist yet.
func ensureDatabase(ctx context.Context, databaseURL string) error {
	if databaseURL == "" {
		return errors.New("DATABASE_URL is not set")
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return errors.New("DATABASE_URL does not parse")
	}
	name := u.Path
	if len(name) > 1 {
		name = name[1:]
	}
	admin := *u
	admin.Path = "/postgres"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL at %s: %w", u.Host, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}
