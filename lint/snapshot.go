package lint

import (
	"cmp"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"unsafe"
)

// The built-in pack is also shipped compiled (rules/default.snap): a box
// compiling 90 KB of rules and 30 000 dictionary words at every cold start
// spent ~100 ms on a desktop core and most of a second under emulation,
// where decoding the compiled arrays costs a few milliseconds. A trainer's
// own pack is still compiled when it is loaded; the snapshot only stands in
// for compile(DefaultPack()), and TestDefaultSnapshotIsCurrent keeps it
// byte for byte what that compile gives (go test -run
// TestDefaultSnapshotIsCurrent ./lint/ -update-snapshot rewrites it).
//
//go:embed rules/default.snap
var defaultSnapshot string

// snapshotMagic starts a snapshot; the number changes with its layout.
const snapshotMagic = "cunbo-lint-snapshot 5\n"

// packChecksum ties a snapshot to the pack text it was compiled from, so a
// pack edited without a new snapshot is compiled instead of silently
// checked by its old rules.
func packChecksum(text string) uint32 {
	// the pack's text is read where it lies: a copy would be 90 KB of a
	// cold start's garbage
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(text), len(text)))
}

// snapWriter lays values out little-endian, lengths before contents.
type snapWriter struct{ b []byte }

func (w *snapWriter) u32(v uint32) { w.b = append(w.b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
func (w *snapWriter) int(v int)    { w.u32(uint32(int32(v))) }
func (w *snapWriter) u64(v uint64) { w.u32(uint32(v)); w.u32(uint32(v >> 32)) }
func (w *snapWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *snapWriter) str(s string) { w.int(len(s)); w.b = append(w.b, s...) }

// align pads to 8 bytes from the snapshot's start, so the array that
// follows can be used where it lies.
func (w *snapWriter) align() {
	for len(w.b)%8 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *snapWriter) i32s(v []int32) {
	w.int(len(v))
	w.align()
	for _, x := range v {
		w.u32(uint32(x))
	}
}

// writeList writes a length and each value.
func writeList[T any](w *snapWriter, v []T, write func(T)) {
	w.int(len(v))
	for _, x := range v {
		write(x)
	}
}

func (w *snapWriter) strs(v []string)  { writeList(w, v, w.str) }
func (w *snapWriter) f32s(v []float32) { writeList(w, v, w.f32) }
func (w *snapWriter) phrases(v []Phrase) {
	writeList(w, v, func(p Phrase) { w.str(p.Text); w.int(p.Line) })
}

// snapReader reads what snapWriter wrote. The first short read sets err
// and every later read returns zero values, so a decoder checks once.
// Arrays are not copied: they are the snapshot's own bytes seen as
// []int32, []uint64 and so on (view), which is why a snapshot must stay
// unchanged and 8-byte aligned (alignedSnapshot) and why nothing writes
// to a compiled automaton or model.
type snapReader struct {
	all string // the whole snapshot, for alignment
	s   string // what is left to read
	err error
}

func (r *snapReader) take(n int) string {
	if r.err != nil {
		return ""
	}
	if n < 0 || n > len(r.s) {
		r.err = errors.New("truncated")
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

func le32(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func (r *snapReader) u32() uint32 {
	s := r.take(4)
	if s == "" {
		return 0
	}
	return le32(s)
}

func (r *snapReader) int() int      { return int(int32(r.u32())) }
func (r *snapReader) u64() uint64   { return uint64(r.u32()) | uint64(r.u32())<<32 }
func (r *snapReader) bool() bool    { return r.take(1) == "\x01" }
func (r *snapReader) str() string   { return r.take(r.int()) }
func (r *snapReader) f32() float32  { return math.Float32frombits(r.u32()) }
func (w *snapWriter) f32(v float32) { w.u32(math.Float32bits(v)) }

// count reads a length of items of size bytes each that must fit in what
// is left.
func (r *snapReader) count(size int) int {
	n := r.int()
	if r.err == nil && (n < 0 || n > len(r.s)/max(size, 1)) {
		r.err = fmt.Errorf("bad length %d", n)
	}
	if r.err != nil {
		return 0
	}
	return n
}

// view returns the next n values of T where they lie in the snapshot.
func view[T byte | int32 | int64 | uint64 | acNode | acEdge | acSlot | acKey](r *snapReader, n int) []T {
	if pad := (len(r.all) - len(r.s)) % 8; pad != 0 {
		r.take(8 - pad)
	}
	s := r.take(n * int(unsafe.Sizeof(*new(T))))
	if n == 0 || r.err != nil {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.StringData(s))), n)
}

func (r *snapReader) i32s() []int32 { return view[int32](r, r.count(4)) }

func (w *snapWriter) bools(v []bool) {
	w.int(len(v))
	w.align()
	for _, b := range v {
		w.bool(b)
	}
}

// bools are viewed in place once every byte is known to be 0 or 1 (all a
// bool may hold).
func (r *snapReader) bools() []bool {
	v := view[byte](r, r.count(1))
	if slices.ContainsFunc(v, func(b byte) bool { return b > 1 }) {
		r.err = errors.New("bad flags")
		return nil
	}
	return unsafe.Slice((*bool)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
}

// list reads a length and that many values, each at least size bytes.
func list[T any](r *snapReader, size int, read func() T) []T {
	n := r.count(size)
	if n == 0 {
		return nil
	}
	v := make([]T, n)
	for i := range v {
		v[i] = read()
	}
	return v
}

func (r *snapReader) strs() []string  { return list(r, 4, r.str) }
func (r *snapReader) f32s() []float32 { return list(r, 4, r.f32) }
func (r *snapReader) phrases() []Phrase {
	return list(r, 8, func() Phrase { return Phrase{Text: r.str(), Line: r.int()} })
}

func (w *snapWriter) automaton(a *automaton) {
	w.bool(a != nil)
	if a == nil {
		return
	}
	w.int(len(a.nodes))
	w.align()
	for _, nd := range a.nodes {
		for _, v := range [...]int32{nd.edge, nd.nEdge, nd.out, nd.nOut, nd.fail, nd.dict} {
			w.u32(uint32(v))
		}
	}
	w.int(len(a.edges))
	w.align()
	for _, e := range a.edges {
		w.u32(uint32(e.r))
		w.u32(uint32(e.next))
	}
	w.i32s(a.rootTo)
	w.int(len(a.wide))
	w.align()
	for _, s := range a.wide {
		w.u32(uint32(s.from))
		w.u32(uint32(s.r))
		w.u32(uint32(s.next))
	}
	w.i32s(a.outs)
}

func (r *snapReader) automaton() *automaton {
	if !r.bool() {
		return nil
	}
	a := &automaton{nodes: view[acNode](r, r.count(24))}
	a.edges = view[acEdge](r, r.count(8))
	a.rootTo = r.i32s()
	a.wide = view[acSlot](r, r.count(12))
	a.outs = r.i32s()
	if r.err == nil && (len(a.nodes) == 0 || len(a.edges) != len(a.nodes)-1) {
		r.err = errors.New("automaton arrays disagree")
	}
	return a
}

func (w *snapWriter) keys(v []acKey) {
	w.int(len(v))
	w.align()
	for _, k := range v {
		w.u32(uint32(k.n))
		w.u32(uint32(k.tag))
	}
}

func (r *snapReader) keys() []acKey { return view[acKey](r, r.count(8)) }

// stringSet writes a set sorted, so a snapshot is the same bytes each time.
func (w *snapWriter) stringSet(set map[string]bool) {
	keys := make([]string, 0, len(set))
	for k, v := range set {
		if v {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	w.strs(keys)
}

func (r *snapReader) stringSet() map[string]bool {
	keys := r.strs()
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}

// marshalSnapshot writes what checking reads of a compiled pack. Of the
// pack itself it keeps the header, the rules and the category texts;
// the word lists live on in the compiled automata.
func (m *matcher) marshalSnapshot(packText string) []byte {
	w := &snapWriter{}
	w.b = append(w.b, snapshotMagic...)
	w.u32(packChecksum(packText))
	w.int(len(packText))

	p := m.pack
	w.str(p.Source)
	w.str(p.Version)
	w.str(p.Name)
	w.str(p.Model)
	w.int(len(p.Rules))
	for _, r := range p.Rules {
		w.str(r.ID)
		w.str(r.Category)
		w.phrases(r.Patterns)
		w.phrases(r.Except)
		w.str(r.Boundary)
		w.bool(r.Negatable)
		w.bool(r.OwnRange)
		w.bool(r.AboutProduct)
		w.bool(r.AboutGoods)
		w.str(r.Law)
		w.str(r.Explain)
		w.str(r.Suggest)
		w.int(r.Line)
	}
	w.int(len(p.Explained))
	for _, c := range p.Explained {
		w.str(c.Category)
		w.str(c.Law)
		w.str(c.Explain)
		w.str(c.Suggest)
		w.int(c.Line)
	}

	w.automaton(m.norm.fillers)
	w.keys(m.norm.fillerKey)
	w.automaton(m.norm.folds)
	w.keys(m.norm.foldKey)
	w.int(len(m.norm.foldTo))
	for _, to := range m.norm.foldTo {
		w.str(string(to))
	}
	stutter := make([]int32, 0, len(m.norm.stutter))
	for r, on := range m.norm.stutter {
		if on {
			stutter = append(stutter, r)
		}
	}
	slices.Sort(stutter)
	w.i32s(stutter)

	w.automaton(m.ac)
	w.keys(m.keys)
	w.bools(m.shape)
	w.automaton(m.shapeAC)
	w.keys(m.shapeKeys)
	w.int(len(m.pats))
	for _, p := range m.pats {
		w.int(p.rule)
		w.int(p.nparts)
		w.bool(p.own)
	}
	w.int(len(m.parts))
	for _, p := range m.parts {
		w.int(p.pattern)
		w.int(p.part)
	}

	// The segmenter's parts of speech are a few tags repeated 30 000
	// times: a table and an index each.
	w.automaton(m.seg.words)
	w.keys(m.seg.keys)
	w.int(len(m.seg.cost))
	w.align()
	for _, c := range m.seg.cost {
		w.u64(uint64(c))
	}
	w.strs(m.seg.tags)
	w.i32s(m.seg.posIdx)
	w.u64(uint64(m.seg.charCost))
	w.int(m.seg.maxLen)

	w.bool(m.model != nil)
	if cm := m.model; cm != nil {
		w.u32(cm.dim)
		w.int(cm.maxN)
		w.b = append(w.b, cm.flags)
		w.strs(cm.cats)
		for _, v := range [][]float32{cm.bias, cm.scale, cm.logit, cm.veto, cm.hedgedVeto} {
			w.f32s(v)
		}
		w.f32(cm.hedgedLogit)
		w.int(cm.laneWords)
		w.int(len(cm.lanes))
		w.align()
		for _, l := range cm.lanes {
			w.u64(l)
		}
		w.stringSet(m.modelRules)
	}
	w.bools(m.pendingAt)
	return w.b
}

// alignedSnapshot returns snap where its arrays can be used in place: the
// same string when it starts on an 8-byte boundary (go:embed data does
// here), an aligned copy otherwise. The arrays are little-endian, as every
// target the box is built for is.
func alignedSnapshot(snap string) (string, error) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return "", errors.New("compiled rule pack: written for little-endian machines")
	}
	if uintptr(unsafe.Pointer(unsafe.StringData(snap)))%8 == 0 {
		return snap, nil
	}
	buf := make([]uint64, (len(snap)+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(snap))
	copy(b, snap)
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// loadSnapshot decodes a snapshot of the pack whose text is packText.
// Its strings are slices of snap, which is never freed (it is embedded).
func loadSnapshot(snap, packText string) (*matcher, error) {
	if !strings.HasPrefix(snap, snapshotMagic) {
		return nil, errors.New("compiled rule pack: not a snapshot of this version")
	}
	snap, err := alignedSnapshot(snap)
	if err != nil {
		return nil, err
	}
	r := &snapReader{all: snap, s: snap[len(snapshotMagic):]}
	if sum, n := r.u32(), r.int(); sum != packChecksum(packText) || n != len(packText) {
		return nil, errors.New("compiled rule pack: compiled from another pack text")
	}
	m := &matcher{pack: &Pack{Source: r.str(), Version: r.str(), Name: r.str(), Model: r.str()}}
	m.pool.New = newScratch
	p := m.pack
	p.Rules = make([]Rule, r.count(16))
	for i := range p.Rules {
		p.Rules[i] = Rule{ID: r.str(), Category: r.str(), Patterns: r.phrases(), Except: r.phrases(), Boundary: r.str(),
			Negatable: r.bool(), OwnRange: r.bool(), AboutProduct: r.bool(), AboutGoods: r.bool(),
			Law: r.str(), Explain: r.str(), Suggest: r.str(), Line: r.int()}
	}
	m.rules = p.Rules
	p.Explained = make([]CategoryText, r.count(20))
	for i := range p.Explained {
		p.Explained[i] = CategoryText{Category: r.str(), Law: r.str(), Explain: r.str(), Suggest: r.str(), Line: r.int()}
	}

	m.norm.fillers = r.automaton()
	m.norm.fillerKey = r.keys()
	m.norm.folds = r.automaton()
	m.norm.foldKey = r.keys()
	m.norm.foldTo = make([][]rune, r.count(4))
	for i := range m.norm.foldTo {
		m.norm.foldTo[i] = []rune(r.str())
	}
	stutter := r.i32s()
	m.norm.stutter = make(map[rune]bool, len(stutter))
	for _, s := range stutter {
		m.norm.stutter[s] = true
	}

	m.ac = r.automaton()
	m.keys = r.keys()
	m.shape = r.bools()
	m.shapeAC = r.automaton()
	m.shapeKeys = r.keys()
	m.pats = make([]compiledPattern, r.count(9))
	for i := range m.pats {
		m.pats[i] = compiledPattern{rule: r.int(), nparts: r.int(), own: r.bool()}
	}
	m.parts = make([]partRef, r.count(8))
	for i := range m.parts {
		m.parts[i] = partRef{pattern: r.int(), part: r.int()}
	}

	m.seg.words = r.automaton()
	m.seg.keys = r.keys()
	m.seg.cost = view[int64](r, r.count(8))
	m.seg.tags = r.strs()
	m.seg.posIdx = r.i32s()
	for _, t := range m.seg.posIdx {
		if t < 0 || int(t) >= len(m.seg.tags) {
			r.err = cmp.Or(r.err, fmt.Errorf("part of speech %d of %d", t, len(m.seg.tags)))
			break
		}
	}
	m.seg.charCost = int64(r.u64())
	m.seg.maxLen = r.int()

	if r.bool() {
		cm := &catModel{dim: r.u32(), maxN: r.int()}
		if f := r.take(1); f != "" {
			cm.flags = f[0]
		}
		cm.cats = r.strs()
		cm.bias, cm.scale, cm.logit, cm.veto, cm.hedgedVeto = r.f32s(), r.f32s(), r.f32s(), r.f32s(), r.f32s()
		cm.hedgedLogit = r.f32()
		cm.laneWords = r.int()
		cm.lanes = view[uint64](r, r.count(8))
		if r.err == nil && (cm.laneWords != (len(cm.cats)+3)/4 || len(cm.lanes) != int(cm.dim)*cm.laneWords) {
			r.err = errors.New("model weights disagree with its size")
		}
		cm.nameRules()
		m.model = cm
		m.modelRules = r.stringSet()
	}
	m.pendingAt = r.bools()
	if r.err == nil && len(m.pendingAt) != len(m.ac.nodes) {
		r.err = errors.New("pending marks disagree with the automaton")
	}
	if r.err == nil && r.s != "" {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return nil, fmt.Errorf("compiled rule pack: %w", r.err)
	}
	m.indexRules()
	return m, nil
}
