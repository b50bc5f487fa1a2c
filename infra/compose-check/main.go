// Command compose-check loads Compose files with the Compose specification's own loader
// (github.com/compose-spec/compose-go, the library `docker compose` is built on) and prints the
// resolved project as JSON on stdout: variables interpolated from the environment and a .env
// file, as `docker compose` does, every profile enabled, the file validated against the
// specification's schema. An invalid file exits 1 with the loader's message on stderr.
//
// Usage: compose-check <compose file>...
//
// Built and cached by scripts/install-services; run by tests/foundation/docker-compose.int.test.ts,
// which checks the project (this repository has no Docker engine to run it with).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check <compose file>...")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(os.Args[1:],
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
	os.Exit(1)
}
