package docker

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dockerhosts/dockerhosts/internal/dnsname"
	"github.com/dockerhosts/dockerhosts/internal/index"
)

// DefaultLabelPrefix starts every label dockerhosts reads; the Corefile can
// change it for users who migrate with labels of another tool.
const DefaultLabelPrefix = "dockerhosts"

// MaxTTL bounds the ttl label as it bounds the block's ttl: a day.
const MaxTTL = 86400

// Labels under the prefix, and those of other tools that name containers.
const (
	labelEnable = "enable"   // "false" opts out; "true" opts in (Config.OptIn)
	labelName   = "name"     // extra names, comma-separated
	labelSRV    = "srv"      // <service>:<port>/<proto>[,...]
	labelCNAME  = "cname"    // every name of the container aliases this one
	labelTXT    = "txt"      // a TXT record on every name; txt.<KEY> at <KEY>.<name>
	labelWild   = "wildcard" // "true": *.<name> for every name
	labelTTL    = "ttl"      // seconds, for all of the container's records

	labelSRVPriority = "srv.priority" // of every SRV record of the container
	labelSRVWeight   = "srv.weight"   // of every SRV record; 0 drains
	labelHealth      = "health"       // "ignore": service names answer whatever the readiness

	labelComposeProject = "com.docker.compose.project"
	labelComposeService = "com.docker.compose.service"
	labelComposeOneoff  = "com.docker.compose.oneoff"
	labelStackNamespace = "com.docker.stack.namespace"
)

// containerLabels is what a container asks of dockerhosts by label. Label
// values are outside input: parseLabels is their only reader, and nothing
// it returns can make a malformed record.
type containerLabels struct {
	// enable is the opt-in/out label; nil when unset or not a boolean.
	enable *bool
	// names are extra names, as written; recordFor validates them.
	names    []string
	services []index.Service
	// cname is the alias target, lowercase: relative, or absolute with
	// its trailing dot; "" for none.
	cname string
	// txt are the TXT records asked for, the keyed ones in label order.
	txt      []index.TXT
	wildcard bool
	// rank is the priority and weight of every SRV record; unset when
	// neither label is.
	rank index.Rank
	// ttl is the TTL asked for, when hasTTL.
	ttl    uint32
	hasTTL bool
	// healthIgnored serves the service names while the container runs,
	// ready or not (the label health=ignore).
	healthIgnored bool
	// problems are malformed values, each worded for one log line.
	problems []string
}

// parseLabels reads the labels under prefix ("dockerhosts" -> the keys
// "dockerhosts.enable", "dockerhosts.name", ...).
func parseLabels(labels map[string]string, prefix string) containerLabels {
	var cl containerLabels
	key := func(name string) string { return prefix + "." + name }
	boolean := func(label string) (b, ok bool) {
		v, set := labels[key(label)]
		if !set {
			return false, false
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			cl.problems = append(cl.problems, fmt.Sprintf("%s=%q is not true or false", key(label), v))
		}
		return b, err == nil
	}
	if b, ok := boolean(labelEnable); ok {
		cl.enable = &b
	}
	cl.wildcard, _ = boolean(labelWild)
	if v, ok := labels[key(labelHealth)]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "ignore":
			cl.healthIgnored = true
		case "", "follow":
		default:
			cl.problems = append(cl.problems, fmt.Sprintf("%s=%q is not ignore or follow", key(labelHealth), v))
		}
	}
	for _, n := range strings.Split(labels[key(labelName)], ",") {
		if n = strings.TrimSpace(n); n != "" {
			cl.names = append(cl.names, n)
		}
	}
	if v := strings.TrimSpace(labels[key(labelCNAME)]); v != "" {
		if n, ok := dnsname.Normalize(v); ok {
			cl.cname = n
			if strings.HasSuffix(v, ".") {
				cl.cname += "."
			}
		} else {
			cl.problems = append(cl.problems, fmt.Sprintf("%s=%q is not a DNS name", key(labelCNAME), v))
		}
	}
	cl.txt, cl.problems = parseTXTLabels(labels, key(labelTXT), cl.problems)
	number := func(label string, max uint64) (n uint64, ok bool) {
		v, set := labels[key(label)]
		if !set {
			return 0, false
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || n > max {
			cl.problems = append(cl.problems, fmt.Sprintf("%s=%q is not a number from 0 to %d", key(label), v, max))
			return 0, false
		}
		return n, true
	}
	cl.rank = index.DefaultRank
	p, okP := number(labelSRVPriority, math.MaxUint16)
	w, okW := number(labelSRVWeight, math.MaxUint16)
	if okP {
		cl.rank.Priority = uint16(p)
	}
	if okW {
		cl.rank.Weight = uint16(w)
	}
	if !okP && !okW {
		cl.rank = index.Rank{}
	}
	if ttl, ok := number(labelTTL, MaxTTL); ok {
		cl.ttl, cl.hasTTL = uint32(ttl), true
	}
	var bad []string
	cl.services, bad = parseSRV(labels[key(labelSRV)])
	rankAll(cl.services, cl.rank)
	for _, b := range bad {
		cl.problems = append(cl.problems, fmt.Sprintf("%s entry %s", key(labelSRV), b))
	}
	return cl
}

// parseTXTLabels reads the label txt (a record on the container's names)
// and every txt.<KEY> (a record at <KEY>.<name>), adding a problem for each
// value or key it cannot use.
func parseTXTLabels(labels map[string]string, txt string, problems []string) ([]index.TXT, []string) {
	var out []index.TXT
	add := func(label, key, value string) {
		strs, err := parseTXT(value)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q: %v", label, value, err))
			return
		}
		out = append(out, index.TXT{Key: key, Strings: strs})
	}
	if v, ok := labels[txt]; ok && v != "" {
		add(txt, "", v)
	}
	var keyed []string
	for l := range labels {
		if strings.HasPrefix(l, txt+".") {
			keyed = append(keyed, l)
		}
	}
	slices.Sort(keyed) // one order for one set of labels
	for _, l := range keyed {
		key := strings.ToLower(strings.TrimPrefix(l, txt+"."))
		if !dnsname.ValidLabel(key) {
			problems = append(problems, fmt.Sprintf("%s: %q is not a DNS label", l, key))
			continue
		}
		if v := labels[l]; v != "" {
			add(l, key, v)
		}
	}
	return out, problems
}

// enabled applies the opt-out label, or in opt-in mode the opt-in label.
func (cl containerLabels) enabled(optIn bool) bool {
	if cl.enable == nil {
		return !optIn
	}
	return *cl.enable
}

// parseSRV parses the srv label: "<service>:<port>/<proto>" entries
// separated by commas, e.g. "http:80/tcp,dns:53/udp". Malformed entries come
// back in bad, each with the reason.
func parseSRV(label string) (services []index.Service, bad []string) {
	for _, entry := range strings.Split(label, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		svc, err := parseSRVEntry(entry)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q: %v", entry, err))
			continue
		}
		if !containsService(services, svc) {
			services = append(services, svc)
		}
	}
	return services, bad
}

// rankAll gives every service the container's rank.
func rankAll(services []index.Service, rank index.Rank) {
	for i := range services {
		services[i].Rank = rank
	}
}

func containsService(ss []index.Service, s index.Service) bool {
	for _, o := range ss {
		if o == s {
			return true
		}
	}
	return false
}

func parseSRVEntry(entry string) (index.Service, error) {
	name, rest, ok := strings.Cut(entry, ":")
	if !ok {
		return index.Service{}, fmt.Errorf("want <service>:<port>/<proto>")
	}
	port, proto, ok := strings.Cut(rest, "/")
	if !ok {
		return index.Service{}, fmt.Errorf("want <service>:<port>/<proto>")
	}
	name = strings.ToLower(strings.TrimPrefix(name, "_"))
	if !dnsname.ValidLabel(name) || strings.Contains(name, "_") {
		return index.Service{}, fmt.Errorf("service %q is not a DNS label", name)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return index.Service{}, fmt.Errorf("port %q is not 1-65535", port)
	}
	proto = strings.ToLower(strings.TrimPrefix(proto, "_"))
	if proto != "tcp" && proto != "udp" {
		return index.Service{}, fmt.Errorf("proto %q is not tcp or udp", proto)
	}
	return index.Service{Name: name, Proto: proto, Port: uint16(p)}, nil
}
