package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
)

// EngineKind is the product serving an engine's API.
type EngineKind string

const (
	KindDocker EngineKind = "docker"
	KindPodman EngineKind = "podman"
	// KindUnknown is an engine whose /version names neither.
	KindUnknown EngineKind = "unknown"
)

// engineKind tells Docker from Podman by the components /version lists:
// Docker's daemon is the component "Engine", Podman's "Podman Engine".
func engineKind(v client.ServerVersionResult) EngineKind {
	kind := KindUnknown
	for _, c := range v.Components {
		switch {
		case strings.EqualFold(c.Name, "Podman Engine"):
			return KindPodman
		case strings.EqualFold(c.Name, "Engine"):
			kind = KindDocker
		}
	}
	return kind
}

// identify asks the engine what it is, for the connect log line and the
// engine_info metric (Podman's differences are undone whatever the kind, so
// a failure only leaves it unknown), and whether it is rootless, which
// decides the addresses its containers answer: a failure there keeps what
// the last connection said (rootful at first), logged once.
func (s *Source) identify(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	kind, version := KindUnknown, "unknown version"
	v, err := s.engine.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		log.Debugf("Docker engine %q at %s: version: %v", s.cfg.Engine, s.endpoint, err)
	} else {
		kind, version = engineKind(v), v.Version
	}
	rootless, err := engineRootless(ctx, s.engine, kind)
	switch {
	case err == nil:
		if rootless && !s.rootless {
			log.Infof("Docker engine %q at %s is rootless: its containers' networks are the user's own, so they answer the addresses their ports are published on (NODATA without)", s.cfg.Engine, s.endpoint)
		}
		s.rootless, s.rootlessLogged = rootless, false
	case !s.rootlessLogged:
		log.Warningf("Docker engine %q at %s: cannot tell whether it is rootless: %v; taking it for %s", s.cfg.Engine, s.endpoint, err, rootfulness(s.rootless))
		s.rootlessLogged = true
	default:
		log.Debugf("Docker engine %q at %s: rootless: %v", s.cfg.Engine, s.endpoint, err)
	}
	s.product = fmt.Sprintf("%s %s, %s", kind, version, rootfulness(s.rootless))
	s.setGauges(func(m engineMetrics) { m.setInfo(kind, version, s.rootless) })
}

func rootfulness(rootless bool) string {
	if rootless {
		return "rootless"
	}
	return "rootful"
}
