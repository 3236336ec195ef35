package dockertest

// DNSClientImage builds an image FROM scratch holding only
// internal/testkit/dockertest/testdata/dnsclient, which asks a DNS server for a
// name's A records every 100 ms and prints each answer (`docker logs`), and
// returns its reference: a client container for tests of answers that
// depend on who asks. The image is removed when the test ends.
//
//	docker run ... IMAGE SERVER:PORT NAME
func (e *Engine) DNSClientImage() string {
	e.t.Helper()
	return e.programImage("./internal/testkit/dockertest/testdata/dnsclient")
}
