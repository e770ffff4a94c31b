// suggest.go: "did you mean" for mistyped commands, keys and names.

package main

import (
	"slices"
	"strings"
)

// didYouMean returns "; did you mean X?" (or "X or Y?") for the candidates
// closest to word, or "" when none is close: within two edits (a swap of
// two neighbours is one; case does not count), and no more edits than
// half of word's length; or the one candidate word is a prefix of. show formats a candidate (nil:
// as it is).
func didYouMean(word string, candidates []string, show func(string) string) string {
	best := suggest(word, candidates)
	if len(best) == 0 {
		return ""
	}
	if show != nil {
		for i := range best {
			best[i] = show(best[i])
		}
	}
	return "; did you mean " + strings.Join(best, " or ") + "?"
}

// suggest returns the candidates closest to word (see didYouMean), sorted.
func suggest(word string, candidates []string) []string {
	var best []string
	bestDist := 2 // at most two edits
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if c == word || 2*d > len(word) || d > bestDist {
			continue
		}
		if d < bestDist {
			best, bestDist = nil, d
		}
		best = append(best, c)
	}
	if len(best) == 0 && word != "" {
		for _, c := range candidates {
			if strings.HasPrefix(c, word) && c != word {
				best = append(best, c)
			}
		}
		if len(best) != 1 {
			return nil // none, or ambiguous: "sta" is start or status
		}
	}
	slices.Sort(best)
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (in bytes): insertions, deletions, substitutions and swaps of two
// neighbours cost one each.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
