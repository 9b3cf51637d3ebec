package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// exit codes
const (
	exitOK      = 0
	exitFailed  = 1 // the check failed, the ledger could not be read, or an unknown ID
	exitUsage   = 2
	exitCorrupt = 3 // Verify found a broken record or chain link
)

type command struct {
	name, args, summary string
	help                string // paragraphs after the summary in the command's help
	run                 func(ctx context.Context, fs *flags, args []string, stdout, stderr io.Writer) error
}

func subcommands() []command {
	return []command{
		{"verify", "[-digest POS:HASH] DIR", "check every record and the hash chain; print the head digest", verifyHelp, runVerify},
		{"events", "[-from POS] [-n COUNT] [-tail COUNT] DIR", "print events as JSON lines, oldest first", eventsHelp, runEvents},
		{"history", "(-lock ID | -key ID | -account ID) [-since T] [-until T] [-n COUNT] [-by-position] [-tz ZONE] [-json] [-replay] DIR",
			"print the history of a lock, key or account", historyHelp, runHistory},
		{"keys", "(-lock ID | -owner ID | -holder ID) [-at T] [-as-of POS|T] [-tz ZONE] [-json] [-replay] DIR",
			"list keys with their status at an instant", keysHelp, runKeys},
		{"access", "(-lock ID [-door D] [-at T] | -account ID -since T [-until T]) [-tz ZONE] [-json] DIR",
			"who could open a door at an instant, or an account's doors over a range", accessHelp, runAccess},
		{"rebuild", "[-write] DIR", "replay the log into the read models and compare with the stored ones", rebuildHelp, runRebuild},
		{"evidence", "(keygen | export | verify) [flags] …", "export events with offline-checkable proofs, and check them", evidenceHelp, runEvidence},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keyledger <command> [flags] DIR")
	fmt.Fprintln(w, "\nInspects a keyledger directory, or the ledger in a PostgreSQL database when DIR")
	fmt.Fprintln(w, "is a postgres:// DSN (schema: KEYLEDGER_PG_SCHEMA, default keyledger).")
	fmt.Fprintln(w, "Only 'rebuild -write' and 'evidence export -write' ever write to it.")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'keyledger help <command>' or 'keyledger <command> -help' for a command's flags.")
}

func find(name string) (command, bool) {
	for _, c := range subcommands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flags is a command's flag set and its help. Parse errors are reported
// by run on one line; the full help is printed only when asked for.
type flags struct {
	*flag.FlagSet
	help func()
}

func flagSet(c command, helpOut io.Writer) *flags {
	fs := flag.NewFlagSet("keyledger "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := &flags{FlagSet: fs}
	f.help = func() {
		fmt.Fprintf(helpOut, "usage: keyledger %s %s\n\n", c.name, c.args)
		if c.help != "" {
			fmt.Fprintln(helpOut, c.help) // begins with what the summary says
		} else {
			fmt.Fprintf(helpOut, "%s.\n", capitalize(c.summary))
		}
		fmt.Fprintln(helpOut, "\nflags:")
		fs.SetOutput(helpOut)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return f
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		c, ok := find(args[1])
		if !ok || len(args) > 2 {
			fmt.Fprintf(stderr, "keyledger help: unknown command %q (see 'keyledger help')\n", strings.Join(args[1:], " "))
			return exitUsage
		}
		// The command prints its help for -help before it touches anything.
		fs := flagSet(c, stdout)
		_ = c.run(ctx, fs, []string{"-help"}, stdout, stderr)
		return exitOK
	}
	c, ok := find(args[0])
	if !ok {
		fmt.Fprintf(stderr, "keyledger: unknown command %q (see 'keyledger help')\n", args[0])
		return exitUsage
	}
	fs := flagSet(c, stdout)
	err := c.run(ctx, fs, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "keyledger %s: %s (see 'keyledger help %s')\n", c.name, oneLine(msg), c.name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "keyledger %s: %s\n", c.name, oneLine(err.Error()))
		if isCorrupt(err) {
			return exitCorrupt
		}
		return exitFailed
	}
}

// oneLine keeps an error on one line of stderr (errors.Join separates with
// newlines).
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

// parse parses flags and returns the one directory argument.
func parse(fs *flags, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
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
	return "", usageErr("want one directory, got %d arguments %q (flags go before the directory)", fs.NArg(), fs.Args())
}

// warn prints a note that is not an error (the command still succeeds).
func warn(w io.Writer, note string) {
	if note != "" {
		fmt.Fprintf(w, "keyledger: note: %s\n", note)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
