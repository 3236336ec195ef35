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
// engine_info metric. Nothing depends on the answer (Podman's differences
// are undone whatever the kind), so a failure only leaves it unknown.
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
	s.product = fmt.Sprintf("%s %s", kind, version)
	s.setGauges(func(m engineMetrics) { m.setInfo(kind, version) })
}
