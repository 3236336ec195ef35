package dockertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSProxy is a TCP endpoint on loopback that serves the Docker Engine over
// mutual TLS, the way a daemon started with --tlsverify does: it requires a
// client certificate signed by its CA and forwards each verified connection
// byte for byte to the engine's Unix socket.
type TLSProxy struct {
	*Proxy
	// Addr is the proxy's host:port.
	Addr string
	// Client holds certificate files the proxy trusts.
	Client TLSFiles

	ca *authority
}

// TLSFiles are the PEM files of one TLS identity and the CA it trusts, laid
// out as DOCKER_CERT_PATH expects: Dir holds ca.pem, cert.pem and key.pem,
// the paths of which are CA, Cert and Key.
type TLSFiles struct {
	Dir, CA, Cert, Key string
}

// Endpoint is the proxy's address as a Docker endpoint.
func (p *TLSProxy) Endpoint() string { return "tcp://" + p.Addr }

// proxyCAName is the subject common name of every proxy's CA.
const proxyCAName = "dockertest CA"

// StartTLSProxy creates a CA, a server certificate for 127.0.0.1 and a
// client certificate in t.TempDir(), and serves the Unix socket at target
// (EngineSocket() for the engine) on a new TLS listener. It stops, and
// closes every connection, when the test ends.
func StartTLSProxy(t testing.TB, target string) *TLSProxy {
	t.Helper()
	ca, err := newAuthority(proxyCAName)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.issue("127.0.0.1", x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	client, err := writeClient(t.TempDir(), ca, ca)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server},
		ClientCAs:    ca.pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &TLSProxy{Proxy: serveProxy(t, ln, target, PassThrough), Addr: ln.Addr().String(), Client: client, ca: ca}
}

// UntrustedClient writes, to a new directory under t.TempDir(), a client
// certificate signed by a CA of its own, which the proxy does not trust,
// next to the proxy's CA as ca.pem: the client trusts the server, so the
// proxy's check of the client certificate is the only one that fails.
func (p *TLSProxy) UntrustedClient(t testing.TB) TLSFiles {
	t.Helper()
	// The same subject as the proxy's CA: a Go client sends only a
	// certificate whose issuer the server names as acceptable, and would
	// otherwise send none. This way the proxy gets the certificate and must
	// verify its signature to refuse it.
	other, err := newAuthority(proxyCAName)
	if err != nil {
		t.Fatal(err)
	}
	f, err := writeClient(t.TempDir(), p.ca, other)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// writeClient writes ca.pem (trusted's certificate), and cert.pem and
// key.pem (a client certificate signed by issuer) to dir.
func writeClient(dir string, trusted, issuer *authority) (TLSFiles, error) {
	cert, err := issuer.issue("dockertest client", x509.ExtKeyUsageClientAuth)
	if err != nil {
		return TLSFiles{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return TLSFiles{}, err
	}
	f := TLSFiles{
		Dir:  dir,
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, "cert.pem"),
		Key:  filepath.Join(dir, "key.pem"),
	}
	for path, block := range map[string]*pem.Block{
		f.CA:   {Type: "CERTIFICATE", Bytes: trusted.cert.Raw},
		f.Cert: {Type: "CERTIFICATE", Bytes: cert.Certificate[0]},
		f.Key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return TLSFiles{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return f, nil
}

// authority is a certificate authority held in memory.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

func (ca *authority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf certificate for usage. A name that parses as an IP
// address goes into the IP SANs, as clients verify the server by address.
func (ca *authority) issue(name string, usage x509.ExtKeyUsage) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
