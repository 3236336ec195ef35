// Package dockerhosts is a CoreDNS plugin that serves Docker container names
// and watched hosts files as authoritative DNS records.
package dockerhosts

import (
	"path/filepath"
	"strconv"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/dockerhosts/dockerhosts/internal/docker"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

const pluginName = "dockerhosts"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// config is one dockerhosts block of a Corefile.
type config struct {
	zones      []string
	hostsFiles []string
	docker     *dockerConfig // nil: no Docker source
	networks   []string
	ttl        uint32
	reload     time.Duration
	noReverse  bool
	fallZones  []string
	fall       bool
}

// dockerConfig is the Docker source's part of the block.
type dockerConfig struct {
	endpoint               string
	tlsCert, tlsKey, tlsCA string
	resync                 time.Duration
	optIn                  bool
}

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
		Zones:     cfg.zones,
		TTL:       cfg.ttl,
		NoReverse: cfg.noReverse,
		Networks:  cfg.networks,
		index:     index.New(cfg.zones),
	}
	if cfg.fall {
		d.Fall.SetZonesFromArgs(cfg.fallZones)
	}
	d.sources = newSources(cfg, d.index)
	// Sources run between OnStartup and OnShutdown only: a Corefile reload
	// starts the new instance before it stops this one.
	c.OnStartup(d.sources.start)
	c.OnShutdown(d.sources.stop)

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		d.Next = next
		return d
	})
	return nil
}

func parse(c *caddy.Controller) (*config, error) {
	cfg := &config{ttl: defaultTTL, reload: defaultReload}
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
		for c.NextBlock() {
			prop := c.Val()
			// Repeatable properties add up; others may appear once.
			if seen[prop] && prop != "hostsfile" {
				return nil, c.Errf("property '%s' given twice", prop)
			}
			seen[prop] = true
			if err := parseProperty(c, cfg, prop); err != nil {
				return nil, err
			}
		}
		if cfg.docker == nil && len(cfg.hostsFiles) == 0 {
			// A bare "dockerhosts" serves the local Docker Engine.
			cfg.docker = &dockerConfig{resync: defaultResync}
		}
		// Docker is implied when no source is named; next to hostsfile it
		// must be asked for, or a Docker property would quietly add it.
		for prop := range seen {
			if isDockerProperty(prop) && !seen["docker"] && len(cfg.hostsFiles) > 0 {
				return nil, c.Errf("property '%s' needs the 'docker' property next to 'hostsfile'", prop)
			}
		}
	}
	return cfg, nil
}

func isDockerProperty(p string) bool {
	switch p {
	case "tls", "resync", "opt_in", "networks":
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
		if err := want(0, 1); err != nil {
			return err
		}
		if cfg.docker == nil {
			cfg.docker = &dockerConfig{resync: defaultResync}
		}
		if len(args) == 1 {
			cfg.docker.endpoint = args[0]
		}
	case "tls":
		if err := want(3, 3); err != nil {
			return err
		}
		cfg.dockerOrNew().tlsCert, cfg.dockerOrNew().tlsKey, cfg.dockerOrNew().tlsCA = args[0], args[1], args[2]
	case "resync":
		if err := want(1, 1); err != nil {
			return err
		}
		d, err := duration(c, args[0])
		if err != nil {
			return err
		}
		cfg.dockerOrNew().resync = d
	case "opt_in":
		if err := want(0, 0); err != nil {
			return err
		}
		cfg.dockerOrNew().optIn = true
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
	default:
		return c.Errf("unknown property '%s'", prop)
	}
	return nil
}

// dockerOrNew lets Docker-only properties come before "docker"; parse checks
// afterwards that "docker" was given.
func (cfg *config) dockerOrNew() *dockerConfig {
	if cfg.docker == nil {
		cfg.docker = &dockerConfig{resync: defaultResync}
	}
	return cfg.docker
}

func duration(c *caddy.Controller, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, c.Errf("'%s' is not a duration like 2s or 500ms (0 turns it off)", s)
	}
	return d, nil
}
