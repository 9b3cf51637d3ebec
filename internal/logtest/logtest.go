// Package logtest captures what a component logs through log/slog, so tests
// can assert that an event was logged with its attributes, and scan
// everything logged for secrets.
package logtest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Capture is an io.Writer for a slog.JSONHandler; it keeps every line.
type Capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New returns a logger at level Debug writing JSON lines to a new Capture.
func New() (*slog.Logger, *Capture) {
	c := &Capture{}
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug})), c
}

// Write implements io.Writer (slog's handlers write one record per call).
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// Bytes returns a copy of everything logged so far.
func (c *Capture) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// Record is one logged line: its level, message and attributes (nested
// groups as maps, numbers as float64, as encoding/json decodes them).
type Record struct {
	Level string
	Msg   string
	Attrs map[string]any
}

// Records decodes every line logged so far.
func (c *Capture) Records() ([]Record, error) {
	var out []Record
	for line := range bytes.Lines(c.Bytes()) {
		m := map[string]any{}
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("logtest: line %q: %w", line, err)
		}
		r := Record{Attrs: m}
		r.Level, _ = m[slog.LevelKey].(string)
		r.Msg, _ = m[slog.MessageKey].(string)
		delete(m, slog.LevelKey)
		delete(m, slog.MessageKey)
		delete(m, slog.TimeKey)
		out = append(out, r)
	}
	return out, nil
}

// Find returns the records at level whose message contains msg.
func (c *Capture) Find(level slog.Level, msg string) ([]Record, error) {
	all, err := c.Records()
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range all {
		if r.Level == level.String() && strings.Contains(r.Msg, msg) {
			out = append(out, r)
		}
	}
	return out, nil
}

// AtLeast returns the records at level or above.
func (c *Capture) AtLeast(level slog.Level) ([]Record, error) {
	all, err := c.Records()
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range all {
		var l slog.Level
		if err := l.UnmarshalText([]byte(r.Level)); err != nil {
			return nil, fmt.Errorf("logtest: level %q: %w", r.Level, err)
		}
		if l >= level {
			out = append(out, r)
		}
	}
	return out, nil
}

// String formats the attribute key as a string ("" if absent); numbers are
// formatted without an exponent.
func (r Record) String(key string) string {
	switch v := r.Attrs[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprint(v)
	}
}

// Leaks returns a description of every secret found in b in any of the
// forms a careless log line would hold it: as is, hex (either case) or
// base64 (standard, URL, unpadded). A secret of only digits found as is
// inside a longer run of digits does not count: a 6-digit PIN would
// otherwise "occur" in a timestamp or a duration by chance.
func Leaks(b []byte, secrets map[string][]byte) []string {
	var out []string
	for name, s := range secrets {
		if len(s) == 0 {
			continue
		}
		h := hex.EncodeToString(s)
		forms := map[string][]byte{
			"plain":      s,
			"hex":        []byte(h),
			"HEX":        []byte(strings.ToUpper(h)),
			"base64":     []byte(base64.StdEncoding.EncodeToString(s)),
			"base64url":  []byte(base64.URLEncoding.EncodeToString(s)),
			"base64-raw": []byte(base64.RawStdEncoding.EncodeToString(s)),
		}
		for form, needle := range forms {
			if containsStandalone(b, needle, form == "plain" && allDigits(s)) {
				out = append(out, fmt.Sprintf("%s as %s", name, form))
			}
		}
	}
	return out
}

func allDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// containsStandalone reports whether needle occurs in b; with digitsApart,
// only an occurrence not inside a longer run of ASCII digits counts.
func containsStandalone(b, needle []byte, digitsApart bool) bool {
	isDigit := func(j int) bool { return j >= 0 && j < len(b) && b[j] >= '0' && b[j] <= '9' }
	for off := 0; ; {
		i := bytes.Index(b[off:], needle)
		if i < 0 {
			return false
		}
		i += off
		if !digitsApart || !isDigit(i-1) && !isDigit(i+len(needle)) {
			return true
		}
		off = i + 1
	}
}
