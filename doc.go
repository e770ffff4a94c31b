// Package launcher starts, watches, stops and restarts named long-running
// background daemons, for Go programs built around an event loop and for the
// people who run them (the CLI is cmd/launcher). It never blocks its caller,
// never loses track of a process, never signals the wrong one, and costs
// nothing while nothing happens.
//
// # A daemon
//
// A [Daemon] is one named process under control, described by a [Spec]: a
// Command (or a Go function registered with [Register], run in a re-exec of
// the program, which must call [Main] first thing in main), its pid and log
// dirs, and how it is stopped, confirmed and restarted. [New] looks for a
// process of the daemon started earlier, by this program or another, and
// adopts it; it creates nothing. Start spawns the process detached, in a
// session of its own, with stdout and stderr appended to <LogDir>/<name>.log.
// Daemons outlive their controller: Close releases the Daemon, not the
// process.
//
//	d, err := launcher.New(launcher.Spec{Name: "web", Command: []string{"python3", "-m", "http.server"}})
//	...
//	d.Start(nil)
//	for {
//		select {
//		case <-d.Wake():
//			d.Poll(time.Now())
//		case ev := <-d.Events():
//			log.Println(ev) // web stopped → starting (requested, pid 4242)
//		}
//	}
//
// A [Manager] holds many daemons and supervises them: it starts them in
// dependency order (Spec.After), restarts the ones that end by themselves
// per Spec.Restart with backoff, gives up on a crash loop, and keeps what
// each is wanted to be on disk. Its Run is a ready-made loop that shuts down
// on cancel.
//
// # States
//
// Each daemon is an explicit state machine: [Stopped], [Starting] (spawned,
// not yet confirmed: StartSecs, or a readiness message, see Spec.Ready),
// [Running], [Stopping] (the stop signal sent; SIGKILL at StopTimeout) and
// [Zombie] (the main process exited, something it left still holds its
// lock). Every move is one [Event], with a [Reason]. A few events are notes
// that change no state (From == To): gave-up, and start-failed with Err
// when a queued start could not spawn.
//
// # Delivery
//
// Nothing happens behind the caller's back: requests (Start, Stop,
// ForceStop, Restart, Signal) act at once; Poll observes everything else
// (exits, deadlines, readiness, other controllers' doings) and never waits.
// Wake is a channel of capacity 1 that fires when Poll has work; the one
// background goroutine of a Daemon (started by the first Wake) or a Manager
// only sends on it, and stops on Close. With nothing happening there is no
// wake-up at all.
//
// Events is the model: every event of the daemon (or of every daemon of a
// Manager), in order, none dropped; what the channel cannot take waits for a
// later Poll. Seq goes up by one per daemon, so a consumer can tell it missed
// none. A Daemon's Poll also returns the events it made, for programs
// without a channel; use one or the other. A [Status] is a snapshot whose Seq
// is the last event it reflects: a consumer that has read fewer events of the
// daemon is behind it.
//
// # The pid dir
//
// The pid dir is the shared truth between any number of controllers: the
// CLI, `launcher up`, programs that embed the package. Each watches it
// (inotify) and sees another's start, stop or restart within a millisecond,
// at no idle cost. Its files, <name>.<kind>:
//
//   - lock: never removed. The daemon holds it open at fd 3 for life, and
//     holding it is the proof that a process is the daemon; a pid file
//     alone proves nothing (another tool's, a reused pid, pid 2 or 1). A
//     daemon that closes its inherited fds is proved by its identity record
//     instead, and must lead its own session.
//   - pid, id: the main pid (for kill $(cat web.pid)) and its identity
//     record: caches, believed only after the proof.
//   - want: wanted up or down, and a restart generation: what any controller
//     asks for.
//   - sup: the supervision lease, an flock held by the one Manager that
//     supervises the daemon; another Manager on it stands by and takes over
//     within milliseconds when the holder goes. While a supervisor holds it,
//     another controller's Start, Stop and Restart are intents in <name>.want
//     that the supervisor carries out (their events say requested-elsewhere).
//   - status: the supervisor's record (restarts, gave-up, last exit) that
//     every controller shows.
//   - disabled, notify (the sd_notify socket), ready (the readiness file),
//     stdin (the input FIFO), exit (a Func daemon's own exit status).
//
// A pid dir or file that another user could write is refused ([ErrUnsafe]):
// nothing in it can make this package signal a process. A controller killed
// at any step leaves a daemon that the next one finds (it holds its lock).
//
// # Concurrency
//
// Every method of a Daemon and of a Manager is safe for concurrent use and
// never blocks: each returns after a bounded number of cheap system calls
// (Start also forks and execs), touching only the daemons it names. The two
// exceptions are Run and Shutdown, whose job is to wait. Calls on one
// Daemon or Manager take turns on its lock, which a request (Start,
// Restart) does not hold while it forks and execs: a Status or Poll from
// another goroutine answers meanwhile, and only a call that acts on the
// daemon being spawned waits for that one spawn (a few milliseconds). A
// restart made by Poll spawns with the lock held.
//
// # Errors
//
// Every error is an [*Error] (the operation, the daemon, the cause) wrapping
// one of the sentinels ([ErrDisabled], [ErrZombie], [ErrExec], [ErrBusy],
// [ErrUnsafe], ...) or a system error; callers branch with errors.Is. A call
// on many daemons joins one *Error per daemon that failed; [Errors] lists
// them.
//
// # Linux notes
//
// Linux 5.3 or later (pidfd_open). The package waits only on its own children
// (waitid on their pidfds, never Wait4(-1)), so it lives beside os/exec. As
// root, the exit status of a daemon adopted from another controller comes
// from the kernel's proc connector; on Linux 6.15 and later also from
// PIDFD_INFO_EXIT; a Func daemon records its own. Otherwise such an exit is
// reported as unknown-exit, never as exited. Other unixes build, and fail
// with [ErrUnsupported].
package launcher
