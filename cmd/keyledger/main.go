// Command keyledger inspects a keyledger directory without writing code.
//
//	keyledger verify  [-digest POS:HASH] DIR   check the hash chain, print the head digest
//	keyledger events  [-from N] [-n N] DIR     print events as JSON lines
//
// Every subcommand takes -help. Commands only read, unless a subcommand says otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// exit codes
const (
	exitOK      = 0
	exitFailed  = 1 // the check failed or the ledger could not be read
	exitUsage   = 2
	exitCorrupt = 3 // Verify found a broken record or chain link
)

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"verify", "[-digest POS:HASH] DIR", "check every record and the hash chain; print the head digest", runVerify},
		{"events", "[-from POS] [-n COUNT] DIR", "print events as JSON lines, oldest first", runEvents},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyledger <command> [flags] DIR")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'keyledger <command> -help' for a command's flags.")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("keyledger "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "usage: keyledger %s %s\n\n%s\n\nflags:\n", c.name, c.args, c.summary)
			fs.PrintDefaults()
		}
		err := c.run(ctx, fs, args[1:], stdout)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "keyledger %s: %v\n", c.name, err)
			fs.Usage()
			return exitUsage
		default:
			fmt.Fprintf(stderr, "keyledger %s: %v\n", c.name, err)
			if isCorrupt(err) {
				return exitCorrupt
			}
			return exitFailed
		}
	}
	fmt.Fprintf(stderr, "keyledger: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

// parse parses flags and returns the one directory argument.
func parse(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	switch fs.NArg() {
	case 0:
		return "", usageErr("missing ledger directory")
	case 1:
		return fs.Arg(0), nil
	}
	return "", usageErr("want one directory, got %d arguments %q", fs.NArg(), fs.Args())
}
