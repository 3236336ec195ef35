package dockerhosts

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dockerhosts/dockerhosts/internal/testkit/await"
	"github.com/dockerhosts/dockerhosts/internal/testkit/dockertest"

	// The examples' Corefiles listen on loopback only.
	_ "github.com/coredns/coredns/plugin/bind"
)

// TestExamples runs every example in examples/ against the real engine:
// its compose file under a project of the test's own (which stands for
// "example" in the names), its Corefile in this process, and every query of
// its README's queries block, until each answers as the README says.
func TestExamples(t *testing.T) {
	dirs, _ := filepath.Glob("examples/*/docker-compose.yml")
	if len(dirs) == 0 {
		t.Fatal("no examples found")
	}
	compose := composeCommand(t)
	for _, file := range dirs {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			l := newDockerLab(t)
			project := strings.ReplaceAll(l.Prefix, "-", "")
			up := func(args ...string) *exec.Cmd {
				cmd := exec.Command(compose[0], append(append(compose[1:], "-p", project, "-f", file), args...)...)
				cmd.Env = append(os.Environ(), "EXAMPLE_IMAGE="+l.image)
				return cmd
			}
			t.Cleanup(func() {
				if out, err := up("down", "--volumes", "--remove-orphans", "--timeout", "1").CombinedOutput(); err != nil {
					t.Logf("compose down: %v: %s", err, out)
				}
			})
			if out, err := up("up", "--detach").CombinedOutput(); err != nil {
				t.Fatalf("compose up: %v: %s", err, out)
			}
			corefile, err := os.ReadFile(filepath.Join(dir, "Corefile"))
			if err != nil {
				t.Fatal(err)
			}
			s := startCoreDNS(t, strings.Replace(string(corefile), ":1053", ":0", 1))
			for _, q := range readQueries(t, filepath.Join(dir, "README.md")) {
				name := fill(t, l, project, strings.ReplaceAll(q.name, "example", project))
				want := expand(t, l, project, q.want)
				await.True(t, dockerWithin, fmt.Sprintf("%s %s answers %q", name, q.qtype, want), func() bool {
					got := render(s.exchange(t, "tcp", name, dns.StringToType[q.qtype]))
					if got != want {
						t.Logf("%s %s: %q", name, q.qtype, got)
					}
					return got == want
				})
			}
		})
	}
}

// composeCommand is docker-compose, or the compose plugin.
func composeCommand(t *testing.T) []string {
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	dockertest.Need(t, "compose", errors.New("neither docker-compose nor docker compose is installed"))
	return nil
}

type exampleQuery struct{ name, qtype, want string }

// readQueries reads the README's queries block: NAME TYPE ANSWER | ANSWER...
func readQueries(t *testing.T, readme string) []exampleQuery {
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []exampleQuery
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```queries":
			in = true
		case in && line == "```":
			in = false
		case in && line != "":
			fields := strings.SplitN(line, " ", 3)
			if len(fields) != 3 {
				t.Fatalf("%s: query line %q is not NAME TYPE ANSWER", readme, line)
			}
			out = append(out, exampleQuery{fields[0], fields[1], fields[2]})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no queries block", readme)
	}
	return out
}

var placeholder = regexp.MustCompile(`<(ip|port|id):([a-z0-9-]+)_(\d+)(?::(\d+))?>`)

// expand fills in the placeholders of an answer and sorts the answers as
// render does.
func expand(t *testing.T, l *dockerLab, project, want string) string {
	answers := strings.Split(fill(t, l, project, want), " | ")
	slices.Sort(answers)
	return strings.Join(answers, " | ")
}

// fill replaces <ip:SERVICE_N>, <port:SERVICE_N:PORT> and <id:SERVICE_N>
// (the 12-hex short ID) with what the project's containers have.
func fill(t *testing.T, l *dockerLab, project, s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(p string) string {
		m := placeholder.FindStringSubmatch(p)
		id := l.Docker("ps", "--quiet", "--filter", "label=com.docker.compose.project="+project,
			"--filter", "label=com.docker.compose.service="+m[2], "--filter", "label=com.docker.compose.container-number="+m[3])
		if id == "" {
			t.Fatalf("no container %s_%s in project %s", m[2], m[3], project)
		}
		if m[1] == "id" {
			return id
		}
		if m[1] == "ip" {
			return l.Docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
		}
		// Compose returns once the containers started; give the engine a
		// moment to report the binding on a busy machine.
		var out string
		await.True(t, dockerWithin, "container "+m[2]+"_"+m[3]+" publishes "+m[4], func() bool {
			var err error
			out, err = l.TryDocker("port", id, m[4])
			return err == nil && out != ""
		})
		_, port, _ := strings.Cut(strings.Split(out, "\n")[0], ":")
		return port
	})
}

// render writes an answer as the queries block does.
func render(r *dns.Msg) string {
	switch {
	case r.Rcode == dns.RcodeNameError:
		return "NXDOMAIN"
	case r.Rcode != dns.RcodeSuccess:
		return dns.RcodeToString[r.Rcode]
	case len(r.Answer) == 0:
		return "-"
	}
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.SRV:
			out = append(out, fmt.Sprintf("%d %d %d %s", v.Priority, v.Weight, v.Port, v.Target))
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Target)
		default:
			out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}
