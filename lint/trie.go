package lint

import (
	"cmp"
	"iter"
	"slices"
)

// automaton is an Aho-Corasick automaton over runes. Every keyword carries
// an int32 tag the caller interprets. It is stored flat (a node's edges,
// outputs and links are ranges of shared slices) because a box compiles
// one at every cold start: a slice per node cost a rule pack 400 000
// allocations and most of its load time, and scattered nodes cost every
// utterance cache misses.
type automaton struct {
	// nodes[n] is where node n's edges and outputs lie and its links: one
	// bounds check and one cache line per step, where four arrays cost an
	// utterance four of each (stepping is a fifth of a check).
	nodes []acNode
	// Node n's goto edges are sorted by rune so a lookup allocates nothing.
	edges []acEdge
	// rootTo[r] is the root's child for rune r, or 0 (the root itself,
	// which is no node's child) when there is none: nearly every rune
	// of clean speech starts from the root, so that step is one load
	// instead of a search of hundreds of edges.
	rootTo []int32
	// wide holds the edges of the nodes with more than narrow edges (a
	// dictionary's first characters have hundreds) as an open-addressed
	// hash table, so finding one is a probe or two instead of a binary
	// search. Its length is a power of two; an empty slot has from -1.
	wide []acSlot
	// The keywords ending at a node are in outs in the order they were
	// added.
	outs []int32
}

// acNode is one node of an automaton.
type acNode struct {
	edge, nEdge int32 // its edges are edges[edge : edge+nEdge]
	out, nOut   int32 // its keywords are outs[out : out+nOut]
	fail        int32
	// dict is the nearest node along the fail chain that has outputs, or
	// -1. A trie built without fail links has neither link.
	dict int32
}

type acEdge struct {
	r    rune
	next int32
}

type acSlot struct {
	from int32
	r    rune
	next int32
}

// narrow is the most edges a node may have and still be searched in line.
const narrow = 4

func slotHash(n int32, r rune) uint32 {
	return (uint32(n)*0x9E3779B1 ^ uint32(r)*0x85EBCA77) * 0xC2B2AE3D
}

// acKey is one keyword: its length in runes and the caller's tag.
type acKey struct {
	n   int32
	tag int32
}

// acBuilder collects keywords; build lays the automaton out once.
type acBuilder struct {
	runes []rune // every keyword, one after another
	keys  []acKey
}

func newACBuilder() *acBuilder {
	return &acBuilder{}
}

// reserve makes room for keys more keywords of runes runes in all.
func (b *acBuilder) reserve(keys, runes int) {
	b.keys = slices.Grow(b.keys, keys)
	b.runes = slices.Grow(b.runes, runes)
}

// add records a keyword and returns its key index.
func (b *acBuilder) add(word []rune, tag int32) int32 {
	k := int32(len(b.keys))
	b.runes = append(b.runes, word...)
	b.keys = append(b.keys, acKey{n: int32(len(word)), tag: tag})
	return k
}

// rootDense bounds rootTo: ASCII, Latin, kana and the CJK unified block
// all fall below it.
const rootDense = 0xA000

// build lays out the automaton with its fail links, for scan.
func (b *acBuilder) build() (*automaton, []acKey) {
	a := b.trie()
	a.links()
	return a, b.keys
}

func (b *acBuilder) trie() *automaton {
	// Keys sorted by their runes share prefixes with their neighbours, so
	// one walk lays the trie out without a map of children, and each
	// node's edges come out in rune order.
	starts := make([]int32, len(b.keys)+1)
	for k, key := range b.keys {
		starts[k+1] = starts[k] + int32(key.n)
	}
	word := func(k int32) []rune { return b.runes[starts[k]:starts[k+1]] }
	order := make([]int32, len(b.keys))
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(x, y int32) int {
		return cmp.Or(slices.Compare(word(x), word(y)), cmp.Compare(x, y))
	})
	from := make([]int32, 1, len(b.runes)+1) // each node's parent; the root has none
	via := make([]rune, 1, len(b.runes)+1)   // the rune on the edge into each node
	from[0] = -1
	ends := make([]int32, len(b.keys))
	path := []int32{0} // the nodes along the previous key
	var prev []rune
	for _, k := range order {
		w := word(k)
		shared := 0
		for shared < len(w) && shared < len(prev) && w[shared] == prev[shared] {
			shared++
		}
		path = path[:shared+1]
		for _, r := range w[shared:] {
			from, via = append(from, path[len(path)-1]), append(via, r)
			path = append(path, int32(len(from)-1))
		}
		ends[k] = path[len(w)]
		prev = w
	}
	n := len(from)
	a := &automaton{nodes: make([]acNode, n), edges: make([]acEdge, n-1), outs: make([]int32, len(ends))}
	edgeOff, outOff := make([]int32, n+1), make([]int32, n+1)
	// counting sorts: edges by parent, outputs by node (stable, so in key order)
	for c := 1; c < n; c++ {
		edgeOff[from[c]+1]++
	}
	for _, e := range ends {
		outOff[e+1]++
	}
	for i := range n {
		edgeOff[i+1] += edgeOff[i]
		outOff[i+1] += outOff[i]
		a.nodes[i] = acNode{edge: edgeOff[i], nEdge: edgeOff[i+1] - edgeOff[i], out: outOff[i], nOut: outOff[i+1] - outOff[i]}
	}
	fill := slices.Clone(edgeOff[:n])
	for c := 1; c < n; c++ {
		p := from[c]
		a.edges[fill[p]] = acEdge{r: via[c], next: int32(c)}
		fill[p]++
	}
	copy(fill, outOff[:n])
	for k, e := range ends {
		a.outs[fill[e]] = int32(k)
		fill[e]++
	}
	maxRoot := rune(-1)
	if es := a.edgesOf(0); len(es) > 0 {
		maxRoot = es[len(es)-1].r
	}
	wide := 0
	for _, nd := range a.nodes {
		if nd.nEdge > narrow {
			wide += int(nd.nEdge)
		}
	}
	size := 1
	for size < 2*wide {
		size <<= 1
	}
	a.wide = make([]acSlot, size)
	for i := range a.wide {
		a.wide[i].from = -1
	}
	for i := range n {
		es := a.edgesOf(int32(i))
		if len(es) <= narrow {
			continue
		}
		for _, e := range es {
			h := slotHash(int32(i), e.r) & uint32(size-1)
			for a.wide[h].from >= 0 {
				h = (h + 1) & uint32(size-1)
			}
			a.wide[h] = acSlot{from: int32(i), r: e.r, next: e.next}
		}
	}
	a.rootTo = make([]int32, min(maxRoot+1, rootDense))
	for _, e := range a.edgesOf(0) {
		if e.r < rootDense {
			a.rootTo[e.r] = e.next
		}
	}
	return a
}

// links computes the fail and dict links breadth first.
func (a *automaton) links() {
	nodes := a.nodes
	nodes[0].dict = -1
	queue := make([]int32, 0, len(nodes))
	for _, e := range a.edgesOf(0) {
		nodes[e.next].dict = -1
		queue = append(queue, e.next)
	}
	for len(queue) > 0 {
		nd := queue[0]
		queue = queue[1:]
		for _, e := range a.edgesOf(nd) {
			f := nodes[nd].fail
			for {
				if nx := a.child(f, e.r); nx >= 0 && nx != e.next {
					nodes[e.next].fail = nx
					break
				}
				if f == 0 {
					nodes[e.next].fail = 0
					break
				}
				f = nodes[f].fail
			}
			fl := nodes[e.next].fail
			if nodes[fl].nOut > 0 {
				nodes[e.next].dict = fl
			} else {
				nodes[e.next].dict = nodes[fl].dict
			}
			queue = append(queue, e.next)
		}
	}
}

// edgesOf returns node n's goto edges.
func (a *automaton) edgesOf(n int32) []acEdge {
	nd := &a.nodes[n]
	return a.edges[nd.edge : nd.edge+nd.nEdge]
}

// child returns the node reached from n over r, or -1.
func (a *automaton) child(n int32, r rune) int32 {
	if n == 0 && uint32(r) < uint32(len(a.rootTo)) {
		if c := a.rootTo[r]; c != 0 {
			return c
		}
		return -1
	}
	return a.search(n, r)
}

// mayStart is false when no keyword starts with r, as the root's table
// tells without a call (true when the table cannot tell): a rewriting
// pass asks it before looking for a keyword at every rune.
func (a *automaton) mayStart(r rune) bool {
	return uint32(r) >= uint32(len(a.rootTo)) || a.rootTo[r] != 0
}

func (a *automaton) search(n int32, r rune) int32 {
	if es := a.edgesOf(n); len(es) <= narrow {
		for _, e := range es {
			if e.r == r {
				return e.next
			}
		}
		return -1
	}
	return a.searchWide(n, r)
}

func (a *automaton) searchWide(n int32, r rune) int32 {
	mask := uint32(len(a.wide) - 1)
	for h := slotHash(n, r) & mask; ; h = (h + 1) & mask {
		s := &a.wide[h]
		if s.from == n && s.r == r {
			return s.next
		}
		if s.from < 0 {
			return -1
		}
	}
}

// keysAt returns the keywords ending at node n.
func (a *automaton) keysAt(n int32) []int32 {
	nd := &a.nodes[n]
	return a.outs[nd.out : nd.out+nd.nOut]
}

// step follows r from cur, along fail links where it must. Its root case
// is inlined where it is called and the rest is one call, not one per
// edge search: under emulation on a box's arm64 a call and its return
// cost more than the search itself.
func (a *automaton) step(cur int32, r rune) int32 {
	if cur == 0 && uint32(r) < uint32(len(a.rootTo)) {
		return a.rootTo[r] // 0 when no edge: stay at the root
	}
	return a.stepFrom(cur, r)
}

func (a *automaton) stepFrom(cur int32, r rune) int32 {
	for {
		if cur == 0 {
			if uint32(r) < uint32(len(a.rootTo)) {
				return a.rootTo[r]
			}
			return max(a.search(0, r), 0)
		}
		nd := &a.nodes[cur]
		if nd.nEdge <= narrow {
			for _, e := range a.edges[nd.edge : nd.edge+nd.nEdge] {
				if e.r == r {
					return e.next
				}
			}
		} else if nx := a.searchWide(cur, r); nx >= 0 {
			return nx
		}
		cur = nd.fail
	}
}

// matches yields every keyword occurrence as (key index, end position
// exclusive). A range over it compiles to a plain loop, where a callback
// per occurrence cost an indirect call each.
func (a *automaton) matches(text []rune) iter.Seq2[int32, int] {
	return func(yield func(int32, int) bool) {
		var cur int32
		for i, r := range text {
			cur = a.step(cur, r)
			for n := cur; n >= 0; {
				nd := &a.nodes[n]
				if nd.nOut > 0 { // most steps end where no keyword does
					for _, k := range a.outs[nd.out : nd.out+nd.nOut] {
						if !yield(k, i+1) {
							return
						}
					}
				}
				if n == 0 {
					break
				}
				n = nd.dict
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
		if cur = a.child(cur, text[j]); cur < 0 {
			break
		}
		for _, k := range a.keysAt(cur) {
			if int(keys[k].n) > bestN {
				best, bestN = k, int(keys[k].n)
			}
		}
	}
	return best, bestN
}
