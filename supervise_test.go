// supervise_test.go checks the supervision policy alone: decide over a
// table of records and events, on a fake clock.

package launcher

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := policy{restart: RestartOnFailure, delay: 100 * time.Millisecond, maxDelay: time.Second,
		resetAfter: 10 * time.Second, window: time.Minute, maxRestarts: 3}
	always := p
	always.restart = RestartAlways
	never := p
	never.restart = RestartNever
	stopped := func(r Reason) Event { return Event{From: Zombie, To: Stopped, Reason: r, Time: now} }
	recent := func(ago ...time.Duration) []time.Time {
		var ts []time.Time
		for _, a := range ago {
			ts = append(ts, now.Add(-a))
		}
		return ts
	}
	for _, tc := range []struct {
		name    string
		rec     supRecord
		ev      Event
		p       policy
		upSince time.Time
		want    verdict
		delay   time.Duration // the backoff in force after
		recent  int           // restarts counted in the window after
	}{
		{"crash restarts", supRecord{}, stopped(ReasonCrashed), p, time.Time{}, restartAt, 100 * time.Millisecond, 1},
		{"start-failed restarts", supRecord{}, stopped(ReasonStartFailed), p, time.Time{}, restartAt, 100 * time.Millisecond, 1},
		{"unknown exit is a failure", supRecord{}, stopped(ReasonUnknownExit), p, time.Time{}, restartAt, 100 * time.Millisecond, 1},
		{"watchdog is a failure", supRecord{}, stopped(ReasonWatchdog), p, time.Time{}, restartAt, 100 * time.Millisecond, 1},
		{"clean exit stays down on-failure", supRecord{}, stopped(ReasonExited), p, time.Time{}, stayDown, 0, 0},
		{"clean exit restarts always", supRecord{}, stopped(ReasonExited), always, time.Time{}, restartAt, 100 * time.Millisecond, 1},
		{"never stays down", supRecord{}, stopped(ReasonCrashed), never, time.Time{}, stayDown, 0, 0},
		{"asked stop is kept", supRecord{}, stopped(ReasonRequested), always, time.Time{}, keepGoing, 0, 0},
		{"a stop elsewhere is kept", supRecord{}, stopped(ReasonRequestedElsewhere), always, time.Time{}, keepGoing, 0, 0},
		{"a stop timed out is kept", supRecord{}, stopped(ReasonStopTimeout), always, time.Time{}, keepGoing, 0, 0},
		{"backoff doubles", supRecord{Delay: 200 * time.Millisecond, Recent: recent(time.Second)},
			stopped(ReasonCrashed), p, time.Time{}, restartAt, 400 * time.Millisecond, 2},
		{"backoff caps", supRecord{Delay: 800 * time.Millisecond, Recent: recent(time.Second)},
			stopped(ReasonCrashed), p, time.Time{}, restartAt, time.Second, 2},
		{"gives up at MaxRestarts in the window", supRecord{Delay: time.Second, Recent: recent(time.Second, 2*time.Second, 3*time.Second)},
			stopped(ReasonCrashed), p, time.Time{}, giveUp, time.Second, 3},
		{"old restarts leave the window", supRecord{Delay: time.Second, Recent: recent(2*time.Minute, 3*time.Minute, 4*time.Minute)},
			stopped(ReasonCrashed), p, time.Time{}, restartAt, time.Second, 1},
		{"a stable run resets", supRecord{Delay: time.Second, Recent: recent(time.Second, 2*time.Second, 3*time.Second)},
			stopped(ReasonCrashed), p, now.Add(-20 * time.Second), restartAt, 100 * time.Millisecond, 1},
		{"no limit", supRecord{Recent: recent(1, 2, 3, 4, 5, 6)}, stopped(ReasonCrashed),
			policy{restart: RestartAlways, delay: time.Millisecond, maxDelay: time.Millisecond, window: time.Minute, maxRestarts: -1},
			time.Time{}, restartAt, time.Millisecond, 0}, // no limit keeps no times (TestBackoffRecentBounded)
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, v := decide(tc.rec, tc.ev, tc.p, tc.upSince, now, 0.5)
			if v != tc.want || rec.Delay != tc.delay || len(rec.Recent) != tc.recent {
				t.Fatalf("got %v delay %v, %d recent; want %v delay %v, %d recent", v, rec.Delay, len(rec.Recent), tc.want, tc.delay, tc.recent)
			}
			switch {
			case v == restartAt && tc.delay >= time.Millisecond && !rec.NextRestart.Equal(now.Add(tc.delay)):
				t.Errorf("next restart %v, want now + %v (jitter 0.5 is ×1)", rec.NextRestart.Sub(now), tc.delay)
			case v == giveUp && (!rec.GaveUp || !rec.NextRestart.IsZero()):
				t.Errorf("gave up %v, next restart %v", rec.GaveUp, rec.NextRestart)
			case v == keepGoing && rec.LastReason != tc.ev.Reason:
				t.Errorf("last reason %v", rec.LastReason)
			}
		})
	}
}

// A restart whose delay is under a millisecond happens at once (in the
// Poll that saw the exit); the zombie event records the exit; Start and
// Restart reset the record alike.
func TestDecideDetails(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := policy{restart: RestartAlways, delay: time.Nanosecond, maxDelay: time.Nanosecond, window: time.Minute, maxRestarts: -1}
	rec, v := decide(supRecord{}, Event{From: Zombie, To: Stopped, Reason: ReasonCrashed}, p, time.Time{}, now, 0.9)
	if v != restartAt || !rec.NextRestart.Equal(now) {
		t.Fatalf("a 1ns delay: %v at %v, want at once", v, rec.NextRestart.Sub(now))
	}
	exit := &ExitStatus{Code: 2}
	rec, v = decide(supRecord{}, Event{From: Running, To: Zombie, Reason: ReasonCrashed, Exit: exit, Time: now}, p, time.Time{}, now, 0)
	if v != keepGoing || rec.LastExit != exit || rec.LastReason != ReasonCrashed || !rec.Since.Equal(now) {
		t.Fatalf("the zombie event: %v %+v", v, rec)
	}
	given := supRecord{GaveUp: true, Recent: []time.Time{now}, Delay: time.Second, NextRestart: now, Restarts: 4}
	r := given.reset()
	if r.GaveUp || r.Recent != nil || r.Delay != 0 || !r.NextRestart.IsZero() || r.Restarts != 4 {
		t.Fatalf("reset: %+v", r)
	}
}

// TestBackoffRecentBounded: the shared record keeps the times of the last
// MaxRestarts restarts only, none with no limit: a crash loop every few
// milliseconds with max_restarts = -1 grew it past what a reader takes, and
// every controller showed 0 restarts. The give-up count is unchanged.
func TestBackoffRecentBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	crash := func(at time.Time) Event {
		return Event{Daemon: "d", From: Zombie, To: Stopped, Reason: ReasonCrashed, Time: at}
	}
	for _, max := range []int{-1, 3, 1000} {
		p := policy{restart: RestartAlways, delay: time.Millisecond, maxDelay: time.Millisecond,
			resetAfter: time.Hour, window: time.Hour, maxRestarts: max}
		var rec supRecord
		restarts := 0
		for i := range 5000 {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			var v verdict
			rec, v = decide(rec, crash(now), p, time.Time{}, now, 0.5)
			if v == giveUp {
				break
			}
			if v != restartAt {
				t.Fatalf("max %d, crash %d: verdict %v", max, i, v)
			}
			restarts++
			if max < 0 && len(rec.Recent) != 0 || max >= 0 && len(rec.Recent) > max {
				t.Fatalf("max %d, after %d restarts: %d times kept", max, restarts, len(rec.Recent))
			}
		}
		want := max
		if max < 0 {
			want = 5000
		}
		if restarts != want {
			t.Errorf("max %d: %d restarts before giving up, want %d", max, restarts, want)
		}
		if b, _ := json.Marshal(rec); len(b) > 64<<10 {
			t.Errorf("max %d: the record is %d bytes, more than a reader takes", max, len(b))
		}
	}
	spec := Spec{Name: "d", Command: []string{"true"}, MaxRestarts: 1001}
	if err := spec.check(); !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "MaxRestarts 1001") {
		t.Errorf("MaxRestarts 1001: %v, want ErrBadSpec naming it", err)
	}
}
