package dockerhosts

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
)

// The documentation is tested like code: a link to a file or heading that
// does not exist fails, and every Corefile shown (a ```corefile block) is
// parsed with this build's directives and runs this plugin's setup.

// docFiles are the Markdown files a reader is sent through.
func docFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"README.md", "docs/*.md", "examples/README.md", "examples/*/README.md", "recipes/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	return files
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
)

func TestDocsLinksResolve(t *testing.T) {
	for _, file := range docFiles(t) {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(string(text)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link to %s: %v", file, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(resolved, ".md") && !hasHeading(t, resolved, anchor) {
				t.Errorf("%s: link to %s: %s has no heading #%s", file, target, resolved, anchor)
			}
		}
	}
}

// stripCode drops fenced blocks and inline code, where brackets are not links.
func stripCode(text string) string {
	return inlineCode.ReplaceAllString(stripFences(text), "")
}

var inlineCode = regexp.MustCompile("`[^`\n]*`")

// hasHeading reports whether file has a heading whose GitHub anchor is anchor.
func hasHeading(t *testing.T, file, anchor string) bool {
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(stripFences(string(text)), "\n") {
		if m := mdHeading.FindStringSubmatch(line); m != nil && githubAnchor(m[1]) == anchor {
			return true
		}
	}
	return false
}

// githubAnchor is the anchor GitHub gives a heading: lowercase, punctuation
// other than '-' and '_' dropped, spaces as '-'.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripFences drops fenced code blocks, fences included.
func stripFences(text string) string {
	var b strings.Builder
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// codeBlock is one fenced block of a Markdown file.
type codeBlock struct {
	file string
	line int
	info string // the word after the opening fence
	text string
}

func codeBlocks(t *testing.T, file string) []codeBlock {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []codeBlock
	var cur *codeBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case fence && cur == nil:
			cur = &codeBlock{file: file, line: n, info: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "```"))}
		case fence:
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unclosed code block", file, cur.line)
	}
	return blocks
}

// looksLikeCorefile matches a block that configures this plugin: a line
// "dockerhosts ... {" or a bare "dockerhosts", but not the Syntax summary.
var looksLikeCorefile = regexp.MustCompile(`(?m)^\s*dockerhosts(\s+[^\s.\[]\S*)*\s*(\{\s*)?$`)

func TestDocsCorefilesAreValid(t *testing.T) {
	directives := pluginDirectives(t)
	tested := 0
	for _, file := range docFiles(t) {
		for _, b := range codeBlocks(t, file) {
			if b.info != "corefile" {
				if b.info == "" && looksLikeCorefile.MatchString(b.text) && !strings.Contains(b.text, "...") {
					t.Errorf("%s:%d: a Corefile in an untagged block: mark it ```corefile so that it is tested", b.file, b.line)
				}
				continue
			}
			tested++
			checkCorefile(t, b, directives)
		}
	}
	// The Corefiles shipped as files that no example test runs: the quick
	// start's, the packages', the lab's.
	for _, pattern := range []string{"examples/quickstart/Corefile", "packaging/*Corefile", "lab/Corefile"} {
		files, _ := filepath.Glob(pattern)
		if len(files) == 0 {
			t.Errorf("no file matches %s", pattern)
		}
		for _, file := range files {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tested++
			checkCorefile(t, codeBlock{file: file, line: 1, info: "corefile", text: string(text)}, directives)
		}
	}
	if tested < 5 {
		t.Errorf("only %d Corefiles found in the docs", tested)
	}
}

// pluginDirectives are the directives of this build, from plugin.cfg.
func pluginDirectives(t *testing.T) []string {
	text, err := os.ReadFile("plugin.cfg")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		out = append(out, name)
	}
	return out
}

// checkCorefile parses b with this build's directives and runs this plugin's
// setup on each of its dockerhosts blocks, with its server block's keys.
func checkCorefile(t *testing.T, b codeBlock, directives []string) {
	t.Helper()
	blocks, err := caddyfile.Parse(b.file, strings.NewReader(b.text), directives)
	if err != nil {
		t.Errorf("%s:%d: %v", b.file, b.line, err)
		return
	}
	for _, sb := range blocks {
		tokens := sb.Tokens[pluginName]
		if len(tokens) == 0 {
			continue
		}
		c := caddy.NewTestController("dns", rebuild(withTestCertificates(t, tokens)))
		c.ServerBlockKeys = sb.Keys
		if err := setup(c); err != nil {
			t.Errorf("%s:%d: block %v: %v", b.file, b.line, sb.Keys, err)
		}
	}
}

// rebuild writes tokens back as Corefile text, a line per source line.
func rebuild(tokens []caddyfile.Token) string {
	var b strings.Builder
	line := tokens[0].Line
	for _, tok := range tokens {
		if tok.Line != line {
			b.WriteByte('\n')
			line = tok.Line
		} else if b.Len() > 0 {
			b.WriteByte(' ')
		}
		text := tok.Text
		if text == "" || strings.ContainsAny(text, " \t\"") {
			text = `"` + strings.ReplaceAll(text, `"`, `\"`) + `"`
		}
		b.WriteString(text)
	}
	return b.String()
}

// withTestCertificates points the arguments of every tls line at a
// certificate, key and CA made for the test: the documented paths do not
// exist here, and setup reads them.
func withTestCertificates(t *testing.T, tokens []caddyfile.Token) []caddyfile.Token {
	out := append([]caddyfile.Token(nil), tokens...)
	for i := range out {
		if out[i].Text != "tls" {
			continue
		}
		files := testCertificate(t)
		for j := 1; j <= 3 && i+j < len(out) && out[i+j].Line == out[i].Line; j++ {
			out[i+j].Text = files[j-1]
		}
	}
	return out
}

// testCertificate writes a self-signed certificate, its key and itself as
// the CA, and returns the three paths.
func testCertificate(t *testing.T) [3]string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "docs"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	keyFile := filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return [3]string{cert, keyFile, cert}
}
