// Command child is the process proc's tests start. Its environment says
// what it does:
//
//	CHILD_EXIT=N    exit at once with status N
//	CHILD_PORT=N    serve GET /health (200) on 127.0.0.1:N
//	CHILD_TERM=...  on SIGTERM: "ignore" it, or exit with that status
//	CHILD_SPAWN=1   start another child, which ignores SIGTERM, and print
//	                "grandchild <pid>"
//
// It writes "out" on stdout and "err" on stderr, and "ready" on stdout
// once its signal handling is in place.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	fmt.Fprintln(os.Stdout, "out")
	fmt.Fprintln(os.Stderr, "err")
	if code, ok := os.LookupEnv("CHILD_EXIT"); ok {
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	switch term := os.Getenv("CHILD_TERM"); term {
	case "":
	case "ignore":
		signal.Ignore(syscall.SIGTERM)
	default:
		n, _ := strconv.Atoi(term)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() { <-sig; os.Exit(n) }()
	}
	if os.Getenv("CHILD_SPAWN") == "1" {
		cmd := exec.Command(os.Args[0])
		cmd.Env = []string{"CHILD_TERM=ignore"}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stdout, "grandchild %d\n", cmd.Process.Pid)
	}
	if port := os.Getenv("CHILD_PORT"); port != "" {
		http.HandleFunc("GET /health", func(http.ResponseWriter, *http.Request) {})
		go func() {
			fmt.Fprintln(os.Stderr, http.ListenAndServe("127.0.0.1:"+port, nil))
			os.Exit(3)
		}()
	}
	fmt.Fprintln(os.Stdout, "ready")
	for {
		time.Sleep(time.Hour) // until a signal ends it
	}
}
