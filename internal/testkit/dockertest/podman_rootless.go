package dockertest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A rootless Podman service of the test binary's own, as a user runs one:
// a user made for the test (useradd gives it subordinate uid and gid
// ranges in /etc/subuid and /etc/subgid), its storage, runtime directory
// and socket in a directory of the test's, and slirp4netns, Podman 4.3's
// rootless network, for its containers. StopPodman removes the user (userdel
// removes its ranges too) and everything it ran.
//
// slirp4netns opens /dev/net/tun in the user's namespace, where only the
// device's mode counts. Debian makes it 0666; this machine has 0600, where
// a rootless container fails to start (`open("/dev/net/tun"): Permission
// denied`). The service gets 0666 for its life and the mode it found
// after.

// tunDevice is the TUN device slirp4netns opens.
const tunDevice = "/dev/net/tun"

// RequireRootlessPodman returns an Engine driving the test binary's
// rootless Podman service (started on first use), or skips t without
// podman, slirp4netns, newuidmap or root (to make the user); with
// DOCKERHOSTS_REQUIRE_DOCKER=1 it fails t instead. The package's TestMain
// must call StopPodman after m.Run.
func RequireRootlessPodman(t testing.TB) *Engine {
	t.Helper()
	Need(t, "podman (Debian packages podman, netavark, aardvark-dns, catatonit)", podmanInstalled())
	needRootlessUser(t)
	return rootless.engine(t, startRootlessPodman)
}

// needRootlessUser skips (or fails) t without what a rootless engine's test
// user needs: slirp4netns for its network, newuidmap for its namespace,
// useradd and root to make it.
func needRootlessUser(t testing.TB) {
	t.Helper()
	NeedProgram(t, "slirp4netns", "slirp4netns")
	NeedProgram(t, "newuidmap", "uidmap")
	NeedProgram(t, "useradd", "passwd")
	var notRoot error
	if os.Geteuid() != 0 {
		notRoot = errors.New("not root")
	}
	Need(t, "root (to make the rootless test user)", notRoot)
}

// RootlessPodmanHost is the endpoint of the rootless service, for a
// Corefile's docker property; "" before RequireRootlessPodman started it.
func RootlessPodmanHost() string { return rootless.host() }

func startRootlessPodman() (*podmanService, error) {
	u, err := newRootlessUser()
	if err != nil {
		return nil, err
	}
	p, err := startPodmanAs(u)
	if err != nil {
		for _, e := range u.remove() {
			err = fmt.Errorf("%w; %v", err, e)
		}
		return nil, err
	}
	return p, nil
}

// rootlessUser is the test's user and the machine state made for it.
type rootlessUser struct {
	name     string
	uid, gid int
	subuids  [2]int // first and count: its container processes run as these
	tunMode  fs.FileMode
	removed  bool
}

func newRootlessUser() (*rootlessUser, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "dhtest-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("useradd", "--no-create-home", "--home-dir", "/nonexistent",
		"--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("useradd %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	u := &rootlessUser{name: name, uid: -1}
	fail := func(err error) (*rootlessUser, error) {
		for _, e := range u.remove() {
			err = fmt.Errorf("%w; %v", err, e)
		}
		return nil, err
	}
	pw, err := user.Lookup(name)
	if err != nil {
		return fail(err)
	}
	uid, err1 := strconv.Atoi(pw.Uid)
	gid, err2 := strconv.Atoi(pw.Gid)
	if err1 != nil || err2 != nil || uid <= 0 {
		return fail(fmt.Errorf("user %s: uid %q, gid %q", name, pw.Uid, pw.Gid))
	}
	u.uid, u.gid = uid, gid
	if u.subuids, err = subordinateRange("/etc/subuid", name); err != nil {
		return fail(err)
	}
	if _, err := subordinateRange("/etc/subgid", name); err != nil {
		return fail(err)
	}
	fi, err := os.Stat(tunDevice)
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(tunDevice, 0o666); err != nil {
		return fail(err)
	}
	u.tunMode = fi.Mode().Perm()
	return u, nil
}

// subordinateRange reads name's range from /etc/subuid or /etc/subgid
// (useradd writes one for a new user).
func subordinateRange(file, name string) ([2]int, error) {
	f, err := os.Open(file)
	if err != nil {
		return [2]int{}, err
	}
	defer f.Close()
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		fields := strings.Split(scan.Text(), ":")
		if len(fields) == 3 && fields[0] == name {
			first, err1 := strconv.Atoi(fields[1])
			count, err2 := strconv.Atoi(fields[2])
			if err1 == nil && err2 == nil {
				return [2]int{first, count}, nil
			}
		}
	}
	return [2]int{}, fmt.Errorf("%s: no range for %s (useradd gives one when SUB_UID_COUNT in /etc/login.defs is set)", file, name)
}

// runAs makes cmd run as the user, with the environment of a login of its
// own under dir.
func (u *rootlessUser) runAs(cmd *exec.Cmd, dir string) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(dir, "home"),
		"USER=" + u.name, "LOGNAME=" + u.name,
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg"),
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
	}
}

// own hands dir over to the user.
func (u *rootlessUser) own(dir string) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, u.uid, u.gid)
	})
}

// remove ends the user's processes (the engine's, conmon or shims,
// slirp4netns, the process that holds its namespace, the containers' as
// its subordinate ids) and waits until they are gone, deletes the user and
// its ranges, and gives the TUN device its mode back.
func (u *rootlessUser) remove() (errs []error) {
	if u.removed {
		return nil
	}
	u.removed = true
	if u.uid > 0 {
		for _, pid := range u.processes() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		deadline := time.Now().Add(leftoverTimeout)
		for len(u.processes()) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if left := u.processes(); len(left) > 0 {
			errs = append(errs, fmt.Errorf("processes of %s left: %v", u.name, left))
		}
	}
	if out, err := exec.Command("userdel", u.name).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("userdel %s: %v: %s", u.name, err, bytes.TrimSpace(out)))
	}
	if u.tunMode != 0 {
		if err := os.Chmod(tunDevice, u.tunMode); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// processes lists the live processes (not zombies) whose real uid is the
// user's or one of its subordinate ids.
func (u *rootlessUser) processes() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || !alive(pid) {
			continue
		}
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				fields := strings.Fields(rest)
				if len(fields) == 0 {
					break
				}
				uid, _ := strconv.Atoi(fields[0])
				if uid == u.uid || uid >= u.subuids[0] && uid < u.subuids[0]+u.subuids[1] {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}
