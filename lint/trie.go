package lint

import "sort"

// automaton is an Aho-Corasick automaton over runes. Every keyword carries
// an int32 tag the caller interprets. Edges are kept sorted per node so a
// lookup is a short binary search and matching allocates nothing.
type automaton struct {
	nodes []acNode
}

type acNode struct {
	edges []acEdge
	fail  int32
	// out lists the keywords ending here (indexes into keys).
	out []int32
	// dict is the nearest node along the fail chain that has outputs, or -1.
	dict int32
}

type acEdge struct {
	r    rune
	next int32
}

// acKey is one keyword: its length in runes and the caller's tag.
type acKey struct {
	n   int
	tag int32
}

type acBuilder struct {
	nodes []acNode
	keys  []acKey
}

func newACBuilder() *acBuilder {
	return &acBuilder{nodes: []acNode{{dict: -1}}}
}

func (b *acBuilder) child(n int32, r rune) int32 {
	e := b.nodes[n].edges
	i := sort.Search(len(e), func(i int) bool { return e[i].r >= r })
	if i < len(e) && e[i].r == r {
		return e[i].next
	}
	return -1
}

// add inserts a keyword and returns its key index.
func (b *acBuilder) add(word []rune, tag int32) int32 {
	var cur int32
	for _, r := range word {
		nx := b.child(cur, r)
		if nx < 0 {
			nx = int32(len(b.nodes))
			b.nodes = append(b.nodes, acNode{dict: -1})
			e := b.nodes[cur].edges
			i := sort.Search(len(e), func(i int) bool { return e[i].r >= r })
			e = append(e, acEdge{})
			copy(e[i+1:], e[i:])
			e[i] = acEdge{r: r, next: nx}
			b.nodes[cur].edges = e
		}
		cur = nx
	}
	k := int32(len(b.keys))
	b.keys = append(b.keys, acKey{n: len(word), tag: tag})
	b.nodes[cur].out = append(b.nodes[cur].out, k)
	return k
}

func (b *acBuilder) build() (*automaton, []acKey) {
	queue := make([]int32, 0, len(b.nodes))
	for _, e := range b.nodes[0].edges {
		b.nodes[e.next].fail = 0
		queue = append(queue, e.next)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range b.nodes[n].edges {
			f := b.nodes[n].fail
			for {
				if nx := b.child(f, e.r); nx >= 0 && nx != e.next {
					b.nodes[e.next].fail = nx
					break
				}
				if f == 0 {
					b.nodes[e.next].fail = 0
					break
				}
				f = b.nodes[f].fail
			}
			fl := b.nodes[e.next].fail
			if len(b.nodes[fl].out) > 0 {
				b.nodes[e.next].dict = fl
			} else {
				b.nodes[e.next].dict = b.nodes[fl].dict
			}
			queue = append(queue, e.next)
		}
	}
	return &automaton{nodes: b.nodes}, b.keys
}

func (a *automaton) step(cur int32, r rune) int32 {
	for {
		e := a.nodes[cur].edges
		lo, hi := 0, len(e)
		for lo < hi {
			m := (lo + hi) / 2
			if e[m].r < r {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(e) && e[lo].r == r {
			return e[lo].next
		}
		if cur == 0 {
			return 0
		}
		cur = a.nodes[cur].fail
	}
}

// scan reports every keyword occurrence as (key index, end position
// exclusive) to emit.
func (a *automaton) scan(text []rune, emit func(key int32, end int)) {
	var cur int32
	for i, r := range text {
		cur = a.step(cur, r)
		for n := cur; n >= 0; n = a.nodes[n].dict {
			for _, k := range a.nodes[n].out {
				emit(k, i+1)
			}
			if n == 0 {
				break
			}
		}
	}
}

// longestAt returns the key index and length of the longest keyword that
// starts exactly at text[i], or -1. It walks goto edges only, which is all
// a left-to-right rewriting pass needs.
func (a *automaton) longestAt(text []rune, i int, keys []acKey) (int32, int) {
	best, bestN := int32(-1), 0
	var cur int32
	for j := i; j < len(text); j++ {
		e := a.nodes[cur].edges
		lo, hi := 0, len(e)
		for lo < hi {
			m := (lo + hi) / 2
			if e[m].r < text[j] {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo >= len(e) || e[lo].r != text[j] {
			break
		}
		cur = e[lo].next
		for _, k := range a.nodes[cur].out {
			if keys[k].n > bestN {
				best, bestN = k, keys[k].n
			}
		}
	}
	return best, bestN
}
