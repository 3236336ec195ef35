// Package dockerhosts is a CoreDNS plugin that serves Docker container names
// and watched hosts files as authoritative DNS records.
package dockerhosts

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/docker"
	"github.com/dockerhosts/dockerhosts/internal/hostsfile"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

const pluginName = "dockerhosts"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// config is one dockerhosts block of a Corefile.
type config struct {
	zones      []string
	hostsFiles []string
	engines    []*engineConfig // Docker engines, in Corefile order
	networks   []string
	resync     time.Duration
	optIn      bool
	labels     string // label prefix
	noShortID  bool
	templates  []*template.Template
	hostMode   bool
	noHealth   bool // health off: service names answer containers that are not ready
	ttl        uint32
	reload     time.Duration
	noReverse  bool
	fallZones  []string
	fall       bool
	// Limits of each hosts file; zero for the default.
	maxLineSize int
	maxFileSize int64
}

// engineConfig is one Docker engine: a `docker` line and the per-engine
// properties (tls, host_address) that follow it.
type engineConfig struct {
	endpoint               string
	name                   string
	tlsCert, tlsKey, tlsCA string
	hostAddrs              []netip.Addr
	noSwarm                bool            // no_swarm: do not serve the engine's swarm
	managers               []string        // swarm_managers: more managers of its swarm, tried in order
	set                    map[string]bool // per-engine properties given
	implied                bool            // made by a per-engine property before any `docker` line
	line                   int             // of its `docker` line, for errors found after the block
}

// defaultEngineName names the engine of a `docker` line without NAME; only
// one engine may go unnamed.
const defaultEngineName = "host"

const (
	defaultTTL    = 5
	defaultReload = 2 * time.Second
	defaultResync = docker.DefaultResync
)

// Per-engine properties apply to the engine of the `docker` line above them.
var engineProperties = map[string]bool{"tls": true, "host_address": true, "no_swarm": true, "swarm_managers": true}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	d := &DockerHosts{
		Zones:       cfg.zones,
		TTL:         cfg.ttl,
		NoReverse:   cfg.noReverse,
		Networks:    cfg.networks,
		LocalScopes: localEngines(cfg.engines),
		NSAddrs:     nsAddrs(dnsserver.GetConfig(c).ListenHosts),
		index:       index.New(cfg.zones),
	}
	if cfg.fall {
		d.Fall.SetZonesFromArgs(cfg.fallZones)
	}
	d.index.OnBrokenChain(func(name string) {
		brokenChains.Inc()
		log.Warningf("%s: its CNAME chain loops or is longer than %d: not served", name, index.MaxChain)
	})
	d.sources, err = compose(cfg, d.index)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	// Sources run between OnStartup and OnShutdown only: a Corefile reload
	// starts the new instance before it stops this one.
	c.OnStartup(d.sources.start)
	c.OnShutdown(d.sources.stop)
	// With a transfer plugin in the block, secondaries hear of changes.
	c.OnStartup(func() error {
		if t, ok := dnsserver.GetConfig(c).Handler("transfer").(notifyTarget); ok {
			d.notifier = &notifier{d: d, target: t, changes: d.sources.changes, quiet: notifyQuiet, maxWait: notifyMaxWait, retries: notifyRetries}
			d.notifier.start()
		}
		return nil
	})
	c.OnShutdown(func() error {
		if d.notifier != nil {
			d.notifier.stop()
		}
		return nil
	})

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		d.Next = next
		return d
	})
	return nil
}

func parse(c *caddy.Controller) (*config, error) {
	cfg := &config{ttl: defaultTTL, reload: defaultReload, resync: defaultResync}
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++
		cfg.zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		if len(cfg.zones) == 0 {
			cfg.zones = []string{"."}
		}
		seen := map[string]bool{}
		dockerLine := false
		for c.NextBlock() {
			prop := c.Val()
			// Repeatable properties add up; per-engine ones may appear once
			// per engine; others once.
			if seen[prop] && prop != "hostsfile" && prop != "docker" && prop != "name_template" && !engineProperties[prop] {
				return nil, c.Errf("property '%s' given twice", prop)
			}
			seen[prop] = true
			dockerLine = dockerLine || prop == "docker"
			if err := parseProperty(c, cfg, prop); err != nil {
				return nil, err
			}
		}
		if len(cfg.engines) == 0 && len(cfg.hostsFiles) == 0 {
			// A bare "dockerhosts" serves the local Docker Engine.
			cfg.engines = []*engineConfig{{}}
		}
		// Docker is implied when no source is named; next to hostsfile it
		// must be asked for, or a Docker property would quietly add it.
		for prop := range seen {
			if isDockerProperty(prop) && !dockerLine && len(cfg.hostsFiles) > 0 {
				return nil, c.Errf("property '%s' needs the 'docker' property next to 'hostsfile'", prop)
			}
		}
		if err := nameEngines(c, cfg.engines); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// nameEngines gives the unnamed engine its default name and checks that
// engines are told apart: by name (their metrics, scopes and DNS names) and
// by endpoint (one engine followed twice would answer every name twice).
func nameEngines(c *caddy.Controller, engines []*engineConfig) error {
	names, endpoints := map[string]bool{}, map[string]bool{}
	errorAt := func(e *engineConfig, format string, args ...any) error {
		// As c.Errf words it, at the engine's own line.
		return fmt.Errorf("%s:%d - Error during parsing: %s", c.File(), e.line, fmt.Sprintf(format, args...))
	}
	for _, e := range engines {
		if e.name == "" {
			if len(engines) > 1 {
				return errorAt(e, "several Docker engines: give each one a NAME (docker ENDPOINT NAME); '%s' has none", endpointOrDefault(e.endpoint))
			}
			e.name = defaultEngineName
		}
		if names[e.name] {
			return errorAt(e, "Docker engine name '%s' given twice", e.name)
		}
		names[e.name] = true
		ep := endpointOrDefault(e.endpoint)
		if endpoints[ep] {
			return errorAt(e, "Docker endpoint '%s' given twice", ep)
		}
		endpoints[ep] = true
	}
	return nil
}

func endpointOrDefault(endpoint string) string {
	if endpoint == "" {
		return "the default endpoint"
	}
	return endpoint
}

// validLabelPrefix accepts what Docker label keys are made of: dotted
// lowercase words (reverse DNS notation), no empty part.
func validLabelPrefix(p string) bool {
	for part := range strings.SplitSeq(p, ".") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// localEngines names the engines reached over a local socket: this machine's.
func localEngines(engines []*engineConfig) []string {
	var out []string
	for _, e := range engines {
		if ep := e.endpoint; ep == "" && docker.DefaultIsLocal() || strings.HasPrefix(ep, "unix://") || strings.HasPrefix(ep, "npipe://") {
			out = append(out, e.name)
		}
	}
	return out
}

func isDockerProperty(p string) bool {
	switch p {
	case "tls", "resync", "opt_in", "networks", "host_address", "label_prefix", "no_short_id", "name_template", "host_mode", "no_swarm", "swarm_managers", "health":
		return true
	}
	return false
}

func parseProperty(c *caddy.Controller, cfg *config, prop string) error {
	args := c.RemainingArgs()
	want := func(min, max int) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return c.ArgErr()
		}
		return nil
	}
	switch prop {
	case "hostsfile":
		if err := want(1, -1); err != nil {
			return err
		}
		root := dnsserver.GetConfig(c).Root
		for _, p := range args {
			if !filepath.IsAbs(p) && root != "" {
				p = filepath.Join(root, p)
			}
			cfg.hostsFiles = append(cfg.hostsFiles, filepath.Clean(p))
		}
	case "docker":
		if err := want(0, 2); err != nil {
			return err
		}
		e := &engineConfig{}
		if n := len(cfg.engines); n > 0 && cfg.engines[n-1].implied {
			e = cfg.engines[n-1] // per-engine properties came first
			e.implied = false
		} else {
			cfg.engines = append(cfg.engines, e)
		}
		e.line = c.Line()
		if len(args) > 0 {
			e.endpoint = args[0]
		}
		if len(args) > 1 {
			name, ok := dnsname.Normalize(args[1])
			if !ok || strings.Contains(name, ".") {
				return c.Errf("Docker engine name '%s' is not a DNS label", args[1])
			}
			e.name = name
		}
	case "tls":
		if err := want(3, 3); err != nil {
			return err
		}
		e, err := cfg.currentEngine(c, prop)
		if err != nil {
			return err
		}
		e.tlsCert, e.tlsKey, e.tlsCA = args[0], args[1], args[2]
	case "host_address":
		if err := want(1, -1); err != nil {
			return err
		}
		e, err := cfg.currentEngine(c, prop)
		if err != nil {
			return err
		}
		for _, a := range args {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
				return c.Errf("host_address '%s' is not an IP address", a)
			}
			e.hostAddrs = append(e.hostAddrs, ip.Unmap())
		}
	case "swarm_managers":
		if err := want(1, -1); err != nil {
			return err
		}
		e, err := cfg.currentEngine(c, prop)
		if err != nil {
			return err
		}
		e.managers = args
	case "no_swarm":
		if err := want(0, 0); err != nil {
			return err
		}
		e, err := cfg.currentEngine(c, prop)
		if err != nil {
			return err
		}
		e.noSwarm = true
	case "resync":
		if err := want(1, 1); err != nil {
			return err
		}
		d, err := duration(c, args[0])
		if err != nil {
			return err
		}
		cfg.resync = d
	case "opt_in":
		if err := want(0, 0); err != nil {
			return err
		}
		cfg.optIn = true
	case "label_prefix":
		if err := want(1, 1); err != nil {
			return err
		}
		if !validLabelPrefix(args[0]) {
			return c.Errf("label_prefix '%s' is not a label key prefix like dockerhosts or com.example.dns", args[0])
		}
		cfg.labels = args[0]
	case "no_short_id":
		if err := want(0, 0); err != nil {
			return err
		}
		cfg.noShortID = true
	case "name_template":
		if err := want(1, 1); err != nil {
			return err
		}
		t, err := docker.ParseTemplate(args[0])
		if err != nil {
			return c.Errf("name_template: %v", err)
		}
		cfg.templates = append(cfg.templates, t)
	case "host_mode":
		if err := want(0, 0); err != nil {
			return err
		}
		cfg.hostMode = true
	case "health":
		if err := want(1, 1); err != nil {
			return err
		}
		switch args[0] {
		case "on":
			cfg.noHealth = false
		case "off":
			cfg.noHealth = true
		default:
			return c.Errf("health '%s' is not on or off", args[0])
		}
	case "networks":
		if err := want(1, -1); err != nil {
			return err
		}
		cfg.networks = args
	case "ttl":
		if err := want(1, 1); err != nil {
			return err
		}
		ttl, err := strconv.ParseUint(args[0], 10, 32)
		if err != nil || ttl > 86400 {
			return c.Errf("ttl must be a number of seconds from 0 to 86400, not '%s'", args[0])
		}
		cfg.ttl = uint32(ttl)
	case "reload":
		if err := want(1, 1); err != nil {
			return err
		}
		d, err := duration(c, args[0])
		if err != nil {
			return err
		}
		cfg.reload = d
	case "no_reverse":
		if err := want(0, 0); err != nil {
			return err
		}
		cfg.noReverse = true
	case "fallthrough":
		cfg.fall = true
		cfg.fallZones = args
	case "max_line_size", "max_file_size":
		if err := want(1, 1); err != nil {
			return err
		}
		n, ok := byteSize(args[0])
		if !ok || (prop == "max_line_size" && n > maxLineSize) || n > hostsfile.MaxFileBytesLimit {
			return c.Errf("%s must be a size like 65536, 64K, 256M or 1G (a line at most 16M, a file at most 2G), not '%s'", prop, args[0])
		}
		if prop == "max_line_size" {
			cfg.maxLineSize = int(n)
		} else {
			cfg.maxFileSize = n
		}
	default:
		return c.Errf("unknown property '%s'", prop)
	}
	return nil
}

// currentEngine is the engine a per-engine property applies to: the one of
// the `docker` line above it, or, before any, the engine that line will
// name. A property given twice for one engine is an error.
func (cfg *config) currentEngine(c *caddy.Controller, prop string) (*engineConfig, error) {
	if len(cfg.engines) == 0 {
		cfg.engines = append(cfg.engines, &engineConfig{implied: true})
	}
	e := cfg.engines[len(cfg.engines)-1]
	if e.set == nil {
		e.set = map[string]bool{}
	}
	if e.set[prop] {
		return nil, c.Errf("property '%s' given twice for one Docker engine", prop)
	}
	e.set[prop] = true
	return e, nil
}

// maxLineSize bounds max_line_size: a hosts file is read with a buffer of a
// line's size.
const maxLineSize = 16 << 20

// byteSize parses a positive size in bytes, with an optional K, M or G
// (powers of 1024).
func byteSize(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > (1<<62)/mult {
		return 0, false
	}
	return n * mult, true
}

func duration(c *caddy.Controller, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, c.Errf("'%s' is not a duration like 2s or 500ms (0 turns it off)", s)
	}
	return d, nil
}
