// procexit_linux.go listens to the kernel's proc connector (as root) for
// the exit statuses of adopted daemons, which are not our children.

package launcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The process-events connector (drivers/connector/cn_proc.c) multicasts a
// message for every exit on the machine, with the exit code encoded as
// wait(2) encodes it. That gives the status of a process that is not our
// child (an adopted daemon), which waitid cannot.
//
// A message, in host byte order (uapi netlink.h, connector.h, cn_proc.h):
//
//	 0 nlmsghdr    len u32, type u16, flags u16, seq u32, pid u32
//	16 cn_msg      id.idx u32, id.val u32, seq u32, ack u32, len u16, flags u16
//	36 proc_event  what u32, cpu u32, timestamp_ns u64
//	52 event_data  exit: process_pid, process_tgid, exit_code u32,
//	               exit_signal u32, parent_pid, parent_tgid; ack: err u32
//	76 end (cn_msg.len is 40: the union is as long as its comm member)
const (
	cnIdxProc = 1 // CN_IDX_PROC, which is also the multicast group
	cnValProc = 1 // CN_VAL_PROC

	procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN
	procCnMcastIgnore = 2 // PROC_CN_MCAST_IGNORE

	procEventNone = 0x00000000 // PROC_EVENT_NONE: the ack of LISTEN or IGNORE
	procEventExit = 0x80000000 // PROC_EVENT_EXIT

	cnIdxOff   = 16
	cnValOff   = 20
	cnAckOff   = 28
	evWhatOff  = 36
	evPIDOff   = 52 // process_pid; ack.err for an ack
	evTgidOff  = 56
	evCodeOff  = 60
	procMsgLen = 76

	// Classic BPF, as a socket filter runs it.
	ldAbs   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeqK    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jeqX    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X
	tax     = unix.BPF_MISC | unix.BPF_TAX
	retK    = unix.BPF_RET | unix.BPF_K
	keepAll = 0xffffffff // bytes of the message to keep: all of it
)

// maxWatchPIDs is the most pids one filter compares, an instruction each
// (a classic BPF program has at most 4096, and every exit on the machine
// runs through it). Past it every whole-process exit passes.
const maxWatchPIDs = 1000

// exitWatch is one netlink socket subscribed to the proc connector, with a
// classic BPF socket filter so that only exits of the chosen processes
// reach it: the owner gets no wake-up when other processes on the machine
// exit. Like process, it is for one goroutine at a time.
type exitWatch struct {
	sock      int
	listening bool // subscribed: close must unsubscribe
	buf       [4096]byte
}

// requests numbers our requests. The kernel multicasts its ack of each to
// every listener, seq overwritten and ack plus one: the ack field tells
// ours, our pid then this number.
var requests atomic.Uint32

func requestTag() uint32 { return uint32(os.Getpid())<<12 + requests.Add(1) }

// openExitWatch opens the socket (non-blocking, close-on-exec), binds it to
// the proc connector group, subscribes and installs a filter that passes
// nothing yet. Without CAP_NET_ADMIN bind fails with EPERM. Outside the
// initial user and pid namespaces the kernel ignores the subscription
// without a word: that is an error wrapping EPERM too, to fall back on.
func openExitWatch() (*exitWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	w := &exitWatch{sock: fd}
	if err == nil {
		err = w.subscribe()
	}
	if err != nil {
		w.close()
		return nil, fmt.Errorf("proc connector: %w", err)
	}
	return w, nil
}

func (w *exitWatch) subscribe() error {
	// Until our ack is in, only acks pass; then nothing does. Attached
	// before bind, so that no event is queued in between.
	if err := w.attach(passWhat(procEventNone)); err != nil {
		return err
	}
	if err := unix.Bind(w.sock, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	tag := requestTag()
	if err := w.send(procCnMcastListen, tag); err != nil {
		return err
	}
	// The connector runs the request within our sendto, so its ack is
	// queued by now, unless the request was ignored.
	err := fmt.Errorf("%w: subscription ignored (outside the initial namespaces?)", unix.EPERM)
	w.drain(func(m []byte) {
		ne := binary.NativeEndian
		if ne.Uint32(m[evWhatOff:]) == procEventNone && ne.Uint32(m[cnAckOff:]) == tag+1 {
			err = nil
			if e := ne.Uint32(m[evPIDOff:]); e != 0 {
				err = syscall.Errno(e)
			}
			w.listening = err == nil
		}
	})
	if err == nil {
		err = w.setPIDs(nil)
		w.drain(func([]byte) {}) // other listeners' acks that came in meanwhile
	}
	return err
}

// send sends the connector a LISTEN or IGNORE request.
func (w *exitWatch) send(op, tag uint32) error {
	var b [16 + 20 + 4]byte // nlmsghdr, cn_msg, the op
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.NLMSG_DONE)
	ne.PutUint32(b[cnIdxOff:], cnIdxProc)
	ne.PutUint32(b[cnValOff:], cnValProc)
	ne.PutUint32(b[cnAckOff:], tag)
	ne.PutUint16(b[32:], 4)
	ne.PutUint32(b[36:], op)
	return unix.Sendto(w.sock, b[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// fd is the socket, for the caller's epoll set: readable when an exit of a
// chosen pid arrived.
func (w *exitWatch) fd() int { return w.sock }

// bpfWord is v, in host order in the message, as a load reads it: the
// absolute loads of classic BPF read words in network byte order.
func bpfWord(v uint32) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return binary.BigEndian.Uint32(b[:])
}

// passWhat is a program passing the messages of one kind (what) only.
func passWhat(what uint32) []unix.SockFilter {
	return []unix.SockFilter{{Code: ldAbs, K: evWhatOff}, {Code: jeqK, K: bpfWord(what), Jf: 1},
		{Code: retK, K: keepAll}, {Code: retK, K: 0}}
}

// setPIDs replaces the filter: it passes only PROC_EVENT_EXIT messages of a
// whole process (process_pid == process_tgid: each thread reports its own
// exit, and a watched pid, once free, can be a thread's) whose pid is in
// pids. With more than maxWatchPIDs it passes every whole-process exit;
// with none, nothing. Messages already queued stay.
func (w *exitWatch) setPIDs(pids []int) error {
	err := w.attach(exitFilter(pids, len(pids) > maxWatchPIDs))
	if errors.Is(err, unix.ENOMEM) {
		// Over optmem_max (20 KiB by default on older kernels; a program
		// costs about 12 bytes an instruction, and the old one counts
		// until the new one is in): pass every exit instead.
		err = w.attach(exitFilter(pids, true))
	}
	return err
}

func exitFilter(pids []int, all bool) []unix.SockFilter {
	if len(pids) == 0 {
		return []unix.SockFilter{{Code: retK, K: 0}}
	}
	prog := []unix.SockFilter{ // an exit, of a whole process:
		{Code: ldAbs, K: evWhatOff}, {Code: jeqK, K: bpfWord(procEventExit), Jt: 1}, {Code: retK, K: 0},
		{Code: ldAbs, K: evTgidOff}, {Code: tax}, {Code: ldAbs, K: evPIDOff}, {Code: jeqX, Jt: 1}, {Code: retK, K: 0},
	}
	if all {
		return append(prog, unix.SockFilter{Code: retK, K: keepAll})
	}
	// Jumps reach 255 instructions ahead at most, so the pids come in
	// blocks of up to 255, each compare jumping to its block's "pass" when
	// equal, the last one skipping it when not.
	for len(pids) > 0 {
		n := min(len(pids), 255)
		for i, pid := range pids[:n] {
			f := unix.SockFilter{Code: jeqK, K: bpfWord(uint32(pid)), Jt: uint8(n - 1 - i)}
			if i == n-1 {
				f.Jf = 1
			}
			prog = append(prog, f)
		}
		prog = append(prog, unix.SockFilter{Code: retK, K: keepAll})
		pids = pids[n:]
	}
	return append(prog, unix.SockFilter{Code: retK, K: 0})
}

func (w *exitWatch) attach(prog []unix.SockFilter) error {
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(w.sock, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("socket filter: %w", err)
	}
	return nil
}

// read drains every message waiting, without blocking, calling fn for each
// exit of a whole process; exits lost to an overflow of the socket's queue
// are not reported. The pidfd tells that a process exited, this how: the
// message is no proof (when another thread execs, the main one reports an
// exit and the process goes on), and it can come just after the pidfd
// turns readable, as do_exit wakes the pidfd's waiters (exit_notify)
// before it sends it (proc_exit_connector): wait for fd then.
func (w *exitWatch) read(fn func(pid int, st *ExitStatus)) {
	w.drain(func(m []byte) {
		ne := binary.NativeEndian
		pid := int(int32(ne.Uint32(m[evPIDOff:])))
		if ne.Uint32(m[evWhatOff:]) == procEventExit && pid > 0 && pid == int(int32(ne.Uint32(m[evTgidOff:]))) {
			fn(pid, statusFromWait(syscall.WaitStatus(ne.Uint32(m[evCodeOff:]))))
		}
	})
}

// drain reads until the socket is empty and calls fn for each connector
// message from the kernel, several of which may share a datagram.
func (w *exitWatch) drain(fn func(m []byte)) {
	for {
		n, from, err := unix.Recvfrom(w.sock, w.buf[:], unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
			continue // ENOBUFS: the queue overflowed; what is left is still good
		}
		if err != nil {
			return // EAGAIN: drained
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		ne := binary.NativeEndian
		for b := w.buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(ne.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			if l >= procMsgLen && ne.Uint32(b[cnIdxOff:]) == cnIdxProc && ne.Uint32(b[cnValOff:]) == cnValProc {
				fn(b[:l])
			}
			b = b[min((l+3)&^3, len(b)):] // NLMSG_ALIGN
		}
	}
}

// close unsubscribes (closing alone leaves the kernel counting a listener,
// and making messages for it) and closes the socket.
func (w *exitWatch) close() {
	if w.sock < 0 {
		return
	}
	if w.listening {
		w.send(procCnMcastIgnore, requestTag())
	}
	unix.Close(w.sock)
	w.sock = -1
}
