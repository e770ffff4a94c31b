//go:build race

package launcher

// raceEnabled reports whether the tests run under the race detector, which
// makes allocation counts unreliable.
const raceEnabled = true
