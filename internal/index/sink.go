package index

// Sink is the index as one source sees it. Whoever composes the sources binds
// each one's identity and priority (For), so a source never names itself and
// two instances of the same kind never share an identity by accident. A
// source writes straight into the index; who wants to hear of its writes
// (metrics, NOTIFY) does so through OnChange.
type Sink interface {
	// Replace makes hosts the source's complete view (a full sync).
	Replace(hosts []Host)
	// Upsert adds or replaces the host with h.ID; false when nothing changed.
	Upsert(h Host) bool
	// Delete removes the host id; false when it was absent.
	Delete(id string) bool
}

// For returns the sink through which src writes to x: a Tabler, which a
// source that loads in bulk (a hosts file) needs, and a Sink for any other.
func (x *Index) For(src Source) Tabler { return boundSink{x, src} }

type boundSink struct {
	x   *Index
	src Source
}

func (b boundSink) Replace(hosts []Host)  { b.x.Replace(b.src, hosts) }
func (b boundSink) Upsert(h Host) bool    { return b.x.Upsert(b.src, h) }
func (b boundSink) Delete(id string) bool { return b.x.Delete(b.src, id) }
