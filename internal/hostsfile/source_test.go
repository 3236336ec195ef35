package hostsfile

import (
	"bytes"
	"context"
	"fmt"
	stdlog "log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dockerhosts/dockerhosts/internal/index"
	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
)

// logBuffer captures what the plugin logs (CoreDNS's log goes through the
// standard logger).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func captureLog(t *testing.T) *logBuffer {
	l := &logBuffer{}
	stdlog.SetOutput(l)
	t.Cleanup(func() { stdlog.SetOutput(os.Stderr) })
	return l
}

// runSource serves path through a Source with limits into a fresh index.
func runSource(t *testing.T, path, name string, lim Limits) *index.Index {
	t.Helper()
	x := index.New([]string{"test."})
	s := NewSource(path, name, 0, x.For(index.Source{Name: name, Priority: 10}))
	s.SetLimits(lim)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	await.True(t, 5*time.Second, "the source synced", s.Synced)
	return x
}

func TestLimitsAreLoggedCountedAndKeepTheRest(t *testing.T) {
	dir := t.TempDir()
	logs := captureLog(t)

	t.Run("max_line_size", func(t *testing.T) {
		path := filepath.Join(dir, "long")
		var b strings.Builder
		for i := range 20 {
			fmt.Fprintf(&b, "10.0.0.%d ok%d\n", i+1, i)
		}
		b.WriteString("10.0.1.1 " + strings.Repeat("x ", 100) + "\n") // 100 names, over 64 bytes
		b.WriteString("10.0.1.2 last\n")
		writeFile(t, path, b.String())
		name := "hostsfile:" + path
		x := runSource(t, path, name, small)
		for i := range 20 {
			if x.Load().Lookup(fmt.Sprintf("ok%d.test.", i)) == nil {
				t.Errorf("ok%d under the limit does not answer", i)
			}
		}
		if x.Load().Lookup("last.test.") == nil {
			t.Error("the line after the long one does not answer")
		}
		if got := testutil.ToFloat64(droppedNames.WithLabelValues(name, "max_line_size")); got != 100 {
			t.Errorf("dropped_names{limit=max_line_size} = %v, want 100", got)
		}
		// Said once: another change to the file does not repeat it.
		writeFile(t, path, b.String()+"10.0.1.3 later\n")
		await.True(t, 5*time.Second, "the added line answers", func() bool { return x.Load().Lookup("later.test.") != nil })
		want := fmt.Sprintf("%s: 1 lines are longer than 64 bytes (max_line_size): skipped, 100 names on them are not served", path)
		if strings.Count(logs.String(), want) != 1 {
			t.Errorf("log %q, want one line %q", logs.String(), want)
		}
	})

	t.Run("max_file_size", func(t *testing.T) {
		path := filepath.Join(dir, "big")
		var b strings.Builder
		for i := range 100 {
			fmt.Fprintf(&b, "10.0.0.1 a%03d b%03d\n", i, i) // 19 bytes
		}
		writeFile(t, path, b.String())
		name := "hostsfile:" + path
		x := runSource(t, path, name, Limits{LineBytes: 64, FileBytes: 19*50 + 10})
		for i := range 50 {
			if x.Load().Lookup(fmt.Sprintf("a%03d.test.", i)) == nil || x.Load().Lookup(fmt.Sprintf("b%03d.test.", i)) == nil {
				t.Errorf("line %d under the limit does not answer", i)
			}
		}
		if x.Load().Lookup("a050.test.") != nil {
			t.Error("the line cut by the limit answers")
		}
		if got := testutil.ToFloat64(droppedNames.WithLabelValues(name, "max_file_size")); got != 100 {
			t.Errorf("dropped_names{limit=max_file_size} = %v, want 100", got)
		}
		want := fmt.Sprintf("%s is larger than 960 bytes (max_file_size): read up to the last line within it, 100 names after it are not served", path)
		if strings.Count(logs.String(), want) != 1 {
			t.Errorf("log %q, want one line %q", logs.String(), want)
		}
	})
}
