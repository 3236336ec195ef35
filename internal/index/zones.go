package index

import (
	"bytes"
	"unsafe"
)

// zoned is the index's forward zones, most specific first, and the one rule
// of where a name lies in them: as written when it is inside one of the
// zones (or there are none), otherwise once under each zone. The maps and
// the tables both qualify names through it.
type zoned []string

// inAZone reports whether the written name s lies in a zone, so that it is
// served as written.
func (z zoned) inAZone(s string) bool {
	if len(z) == 0 {
		return true
	}
	for _, zone := range z {
		if zone == "." || (len(s)+1 == len(zone) && zone[:len(s)] == s) ||
			(len(s) > len(zone) && s[len(s)-len(zone)] == '.' && s[len(s)-len(zone)+1:] == zone[:len(zone)-1]) {
			return true
		}
	}
	return false
}

// written appends to out each name a table may hold that qualifies to the
// lowercase FQDN q.
func (z zoned) written(q string, out []string) []string {
	if s := q[:len(q)-1]; z.inAZone(s) {
		out = append(out, s)
	}
	for _, zone := range z {
		if zone == "." || len(q) <= len(zone) || !inZone(zone, q) {
			continue
		}
		if rel := q[:len(q)-len(zone)-1]; !z.inAZone(rel) {
			out = append(out, rel)
		}
	}
	return out
}

// qualify gives the owner names of the written name w.
func (z zoned) qualify(w string) []string {
	if z.inAZone(w) {
		return []string{w + "."}
	}
	out := make([]string, len(z))
	for i, zone := range z {
		out[i] = w + "." + zone
	}
	return out
}

// zoneOf is the most specific zone holding the lowercase FQDN q, "." for
// none.
func (z zoned) zoneOf(q string) string {
	for _, zone := range z {
		if inZone(zone, q) {
			return zone
		}
	}
	return "."
}

// eachEnt calls fn with each empty non-terminal above the written name n:
// the names strictly between each owner name n qualifies to and the apex of
// the zone that holds it, as the maps' addEnts makes them. scratch is
// working space, returned for reuse; fn's argument is valid during the call.
func (z zoned) eachEnt(n, scratch []byte, fn func(parent []byte)) []byte {
	if bytes.IndexByte(n, '.') < 0 {
		return scratch // a single label has nothing above it below a zone
	}
	above := func(q []byte) {
		eachParent(q, z.zoneOf(unsafe.String(unsafe.SliceData(q), len(q))), func(parent []byte) {
			if len(parent) <= MaxTableName {
				fn(parent)
			}
		})
	}
	if z.inAZone(unsafe.String(unsafe.SliceData(n), len(n))) {
		scratch = append(append(scratch[:0], n...), '.')
		above(scratch)
		return scratch
	}
	for _, zone := range z {
		scratch = append(append(append(scratch[:0], n...), '.'), zone...)
		above(scratch)
	}
	return scratch
}
