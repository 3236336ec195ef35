// Package dockerhosts is a CoreDNS plugin that serves Docker container names
// and watched hosts files as authoritative DNS records.
package dockerhosts

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
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
	// traefikProxy names the proxy container; traefikOptIn is Traefik's
	// exposedByDefault=false.
	traefikProxy string
	traefikOptIn bool
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
			name := c.Val()
			p, ok := properties[name]
			if !ok {
				return nil, c.Errf("unknown property '%s'", name)
			}
			// Repeatable properties add up; per-engine ones may appear once
			// per engine; others once.
			if seen[name] && !p.repeat && p.where != perEngine {
				return nil, c.Errf("property '%s' given twice", name)
			}
			seen[name] = true
			dockerLine = dockerLine || name == "docker"
			if err := p.parse(c, cfg, name); err != nil {
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
			if properties[prop].where != inBlock && !dockerLine && len(cfg.hostsFiles) > 0 {
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

// property is one line a dockerhosts block may hold: how many arguments it
// takes, what it configures, whether it may come again, and how it is set.
// A new property is one row of properties.
type property struct {
	min, max int // arguments; max many for no limit
	where    where
	repeat   bool // may be given again: its values add up
	// set takes the arguments; e is the engine of a perEngine property
	// (nil for others).
	set func(c *caddy.Controller, cfg *config, e *engineConfig, args []string) error
}

// where a property applies.
type where int

const (
	inBlock   where = iota // the whole block
	forDocker              // the block's Docker engines: next to hostsfile it needs a docker line
	perEngine              // the engine of the docker line above it, once per engine
)

// many is a property's max when it takes any number of arguments.
const many = -1

var properties = map[string]property{
	"hostsfile":      {min: 1, max: many, where: inBlock, repeat: true, set: setHostsFiles},
	"docker":         {min: 0, max: 2, where: forDocker, repeat: true, set: setEngine},
	"tls":            {min: 3, max: 3, where: perEngine, set: setTLS},
	"host_address":   {min: 1, max: many, where: perEngine, set: setHostAddrs},
	"swarm_managers": {min: 1, max: many, where: perEngine, set: setManagers},
	"no_swarm":       {min: 0, max: 0, where: perEngine, set: setNoSwarm},
	"resync":         {min: 1, max: 1, where: forDocker, set: setResync},
	"opt_in":         {min: 0, max: 0, where: forDocker, set: setOptIn},
	"label_prefix":   {min: 1, max: 1, where: forDocker, set: setLabelPrefix},
	"no_short_id":    {min: 0, max: 0, where: forDocker, set: setNoShortID},
	"name_template":  {min: 1, max: 1, where: forDocker, repeat: true, set: setNameTemplate},
	"host_mode":      {min: 0, max: 0, where: forDocker, set: setHostMode},
	"traefik_proxy":  {min: 1, max: 1, where: forDocker, set: setTraefikProxy},
	"traefik_opt_in": {min: 0, max: 0, where: forDocker, set: setTraefikOptIn},
	"health":         {min: 1, max: 1, where: forDocker, set: setHealth},
	"networks":       {min: 1, max: many, where: forDocker, set: setNetworks},
	"ttl":            {min: 1, max: 1, where: inBlock, set: setTTL},
	"reload":         {min: 1, max: 1, where: inBlock, set: setReload},
	"no_reverse":     {min: 0, max: 0, where: inBlock, set: setNoReverse},
	"fallthrough":    {min: 0, max: many, where: inBlock, set: setFallthrough},
	"max_line_size":  {min: 1, max: 1, where: inBlock, set: setMaxLineSize},
	"max_file_size":  {min: 1, max: 1, where: inBlock, set: setMaxFileSize},
}

// parse reads the arguments of property name, checks their number, finds
// the engine a perEngine property applies to, and sets it.
func (p property) parse(c *caddy.Controller, cfg *config, name string) error {
	args := c.RemainingArgs()
	if len(args) < p.min || (p.max != many && len(args) > p.max) {
		return c.ArgErr()
	}
	var e *engineConfig
	if p.where == perEngine {
		var err error
		if e, err = cfg.currentEngine(c, name); err != nil {
			return err
		}
	}
	return p.set(c, cfg, e, args)
}

func setHostsFiles(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	root := dnsserver.GetConfig(c).Root
	for _, p := range args {
		if !filepath.IsAbs(p) && root != "" {
			p = filepath.Join(root, p)
		}
		cfg.hostsFiles = append(cfg.hostsFiles, filepath.Clean(p))
	}
	return nil
}

// setEngine starts an engine (docker [ENDPOINT [NAME]]), or completes the
// one per-engine properties above it made.
func setEngine(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
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
	return nil
}

func setTLS(_ *caddy.Controller, _ *config, e *engineConfig, args []string) error {
	e.tlsCert, e.tlsKey, e.tlsCA = args[0], args[1], args[2]
	return nil
}

func setHostAddrs(c *caddy.Controller, _ *config, e *engineConfig, args []string) error {
	for _, a := range args {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.IsUnspecified() || ip.Zone() != "" {
			return c.Errf("host_address '%s' is not an IP address", a)
		}
		e.hostAddrs = append(e.hostAddrs, ip.Unmap())
	}
	return nil
}

func setManagers(_ *caddy.Controller, _ *config, e *engineConfig, args []string) error {
	e.managers = args
	return nil
}

func setNoSwarm(_ *caddy.Controller, _ *config, e *engineConfig, _ []string) error {
	e.noSwarm = true
	return nil
}

func setResync(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) (err error) {
	cfg.resync, err = duration(c, args[0])
	return err
}

func setOptIn(_ *caddy.Controller, cfg *config, _ *engineConfig, _ []string) error {
	cfg.optIn = true
	return nil
}

func setLabelPrefix(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	if !validLabelPrefix(args[0]) {
		return c.Errf("label_prefix '%s' is not a label key prefix like dockerhosts or com.example.dns", args[0])
	}
	cfg.labels = args[0]
	return nil
}

func setNoShortID(_ *caddy.Controller, cfg *config, _ *engineConfig, _ []string) error {
	cfg.noShortID = true
	return nil
}

func setNameTemplate(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	t, err := docker.ParseTemplate(args[0])
	if err != nil {
		return c.Errf("name_template: %v", err)
	}
	cfg.templates = append(cfg.templates, t)
	return nil
}

func setHostMode(_ *caddy.Controller, cfg *config, _ *engineConfig, _ []string) error {
	cfg.hostMode = true
	return nil
}

// containerName is what Docker accepts as a container name.
var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func setTraefikProxy(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	name := strings.TrimPrefix(args[0], "/")
	if !containerName.MatchString(name) {
		return c.Errf("traefik_proxy '%s' is not a container name", args[0])
	}
	cfg.traefikProxy = name
	return nil
}

func setTraefikOptIn(_ *caddy.Controller, cfg *config, _ *engineConfig, _ []string) error {
	cfg.traefikOptIn = true
	return nil
}

func setHealth(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	switch args[0] {
	case "on":
		cfg.noHealth = false
	case "off":
		cfg.noHealth = true
	default:
		return c.Errf("health '%s' is not on or off", args[0])
	}
	return nil
}

func setNetworks(_ *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	cfg.networks = args
	return nil
}

func setTTL(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	ttl, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil || ttl > 86400 {
		return c.Errf("ttl must be a number of seconds from 0 to 86400, not '%s'", args[0])
	}
	cfg.ttl = uint32(ttl)
	return nil
}

func setReload(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) (err error) {
	cfg.reload, err = duration(c, args[0])
	return err
}

func setNoReverse(_ *caddy.Controller, cfg *config, _ *engineConfig, _ []string) error {
	cfg.noReverse = true
	return nil
}

func setFallthrough(_ *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	cfg.fall = true
	cfg.fallZones = args
	return nil
}

func setMaxLineSize(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) error {
	n, err := size(c, "max_line_size", args[0], maxLineSize)
	cfg.maxLineSize = int(n)
	return err
}

func setMaxFileSize(c *caddy.Controller, cfg *config, _ *engineConfig, args []string) (err error) {
	cfg.maxFileSize, err = size(c, "max_file_size", args[0], hostsfile.MaxFileBytesLimit)
	return err
}

// size parses the size property prop may give, at most limit bytes.
func size(c *caddy.Controller, prop, arg string, limit int64) (int64, error) {
	n, ok := byteSize(arg)
	if !ok || n > limit {
		return 0, c.Errf("%s must be a size like 65536, 64K, 256M or 1G (a line at most 16M, a file at most 2G), not '%s'", prop, arg)
	}
	return n, nil
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
