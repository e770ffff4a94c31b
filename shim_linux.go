// shim_linux.go is the re-exec shim between fork and a daemon's exec: it
// undoes what SysProcAttr cannot (ignored signals, stray fds, the umask)
// and switches user.

package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shimRequest is what the controller passes to the re-exec shim.
type shimRequest struct {
	Path  string   `json:"path"`
	Argv  []string `json:"argv"`
	Umask uint32   `json:"umask,omitempty"`
	// KeepFD is an fd above 3 to keep open (the notification fd), or 0.
	KeepFD int `json:"keep_fd,omitempty"`
	// With a credential, the shim switches user itself, so the shim (this
	// program) need not be executable by the daemon's user.
	Cred *shimCred `json:"cred,omitempty"`
}

type shimCred struct {
	UID, GID uint32
	Groups   []uint32 `json:",omitempty"`
}

// runShim runs in a re-exec of the controller's binary between fork and the
// daemon's exec: it does what SysProcAttr cannot (reset ignored signals and
// the signal mask, close stray fds, set the umask) and execs the command. It never returns.
func runShim(spec string) {
	var r shimRequest
	if err := json.Unmarshal([]byte(spec), &r); err != nil || r.Path == "" {
		fmt.Fprintf(os.Stderr, "launcher: shim: bad request: %v\n", err)
		os.Exit(127)
	}
	// fds 0-3 (and the notification fd) are the daemon's; anything else
	// was inherited by accident.
	if r.KeepFD > 3 {
		_ = unix.CloseRange(4, uint(r.KeepFD-1), unix.CLOSE_RANGE_CLOEXEC)
		_ = unix.CloseRange(uint(r.KeepFD+1), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	} else {
		_ = unix.CloseRange(4, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	}
	runtime.LockOSThread() // the mask is per thread; exec runs on this one
	resetSignals()
	var none unix.Sigset_t
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &none, nil)
	if r.Umask != 0 {
		unix.Umask(int(r.Umask))
	}
	if r.Cred != nil {
		// Go applies these to every thread of the process.
		groups := make([]int, len(r.Cred.Groups))
		for i, g := range r.Cred.Groups {
			groups[i] = int(g)
		}
		if err := errors.Join(unix.Setgroups(groups), unix.Setgid(int(r.Cred.GID)), unix.Setuid(int(r.Cred.UID))); err != nil {
			fmt.Fprintf(os.Stderr, "launcher: shim: switching to uid %d: %v\n", r.Cred.UID, err)
			os.Exit(126)
		}
	}
	env := os.Environ()
	err := unix.Exec(r.Path, r.Argv, env)
	fmt.Fprintf(os.Stderr, "launcher: exec %s: %v\n", r.Path, err)
	os.Exit(127)
}

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on the
// architectures Go runs Linux on (handler, flags, restorer, mask).
type kernelSigaction struct {
	handler  uintptr
	flags    uintptr
	restorer uintptr
	mask     uint64
}

// resetSignals sets every ignored signal back to its default action, which
// exec then keeps. Handled signals need nothing: exec resets them.
func resetSignals() {
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		var old kernelSigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0,
			uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			continue
		}
		if old.handler == 1 { // SIG_IGN
			dfl := kernelSigaction{}
			unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
		}
	}
}
