// Package consoletest builds a county's worth of review data for the
// console's benchmarks and browser tests: women (boxes) assigned to a few
// social workers, flagged segments in the box's own segment.json format with
// findings, decisions and coaching notes, on SQLite or PostgreSQL.
//
// Rows go in by multi-row INSERTs inside one transaction, not through the
// store's one-transaction-per-call methods: 100 000 segments then take
// seconds, not the minutes a box-by-box upload would. The store is opened
// (and migrated) first, so the schema is the real one.
package consoletest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/pgtest"
	"github.com/cunbo/cunbo/review/store"
	"github.com/cunbo/cunbo/segment"
)

// Backend is an opened, migrated store with a second handle on the same
// database for bulk loading and EXPLAIN.
type Backend struct {
	Name     string // "sqlite" or "postgres"
	Store    store.Store
	DB       *sql.DB
	Postgres bool
}

// SQLite opens a store in a fresh file under tb's temporary directory.
func SQLite(tb testing.TB) Backend {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), store.SQLiteFile)
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return Backend{Name: "sqlite", Store: st, DB: db}
}

// Postgres opens a store in a fresh database of pg.
func Postgres(tb testing.TB, pg *pgtest.Cluster) Backend {
	tb.Helper()
	dsn := pg.NewDB(tb)
	st, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return Backend{Name: "postgres", Store: st, DB: db, Postgres: true}
}

// Spec is the size and shape of a dataset.
type Spec struct {
	Workers  int // social workers, named 社工01…
	Women    int // boxes, spread round-robin over the workers
	Segments int // spread evenly over the women
	// Days is the span the moments cover, ending at Now.
	Days int
	// Undecided: segments of the newest UndecidedDays are still new; the
	// older ones were decided (real or false alarm, some coached).
	UndecidedDays int
	Now           time.Time
	// Hash is every worker's password hash (review/accounts).
	Hash string
	// ClipKey is the blob every segment's clip points at ("" for none).
	ClipKey string
	// Seed makes the data repeatable.
	Seed uint64
}

// Woman is one box of the dataset.
type Woman struct {
	BoxID  string
	Name   string
	Worker string
}

// Data is what Build stored.
type Data struct {
	Workers []string
	Women   []Woman
	// New lists each worker's undecided segments, newest moment first.
	New map[string][]store.SegmentRef
	// Decided counts the segments with a decision.
	Decided int
}

// phrase is one realistic flagged sentence with its rule.
type phrase struct {
	before, match, after string
	cat, catName, rule   string
	law, explain, better string
}

// phrases are the kinds of things the linter flags on a Guizhou
// livestream (see ../shared/docs/COMPLIANCE.md).
var phrases = []phrase{
	{"今天的辣椒酱", "全网最低价", "，家人们快下单", "ABS", "绝对化用语", "abs-lowest", "广告法第九条",
		"说“全网最低”，没法证明，广告法不许这样说。", "“我们家的价格很实在”"},
	{"我们这个腊肉是", "第一", "好吃的，大家放心", "ABS", "绝对化用语", "abs-first", "广告法第九条",
		"说“第一”，要有证明，不然不能说。", "“我们家的腊肉很多人回头买”"},
	{"这个苦丁茶喝了能", "治高血压", "，老人家都在喝", "MED", "说能治病", "med-cure", "广告法第十七条",
		"普通食品不能说能治病。", "“这是我们山里的老茶，喝着清爽”"},
	{"天麻炖鸡吃了", "保证不失眠", "，我妈妈天天吃", "MED", "说能治病", "med-guarantee", "广告法第十七条",
		"不能保证吃了有什么疗效。", "“天麻是我们这里的特产，炖汤很香”"},
	{"这个银饰是", "国家级", "手艺人做的", "ABS", "绝对化用语", "abs-national", "广告法第九条",
		"“国家级”要有真的证书才能说。", "“是我们寨子里的老师傅手工打的”"},
	{"刺梨汁", "百分之百", "有效，喝了皮肤变白", "EFF", "保证效果", "eff-guarantee", "广告法第二十八条",
		"不能保证效果，说了就是虚假宣传。", "“刺梨汁酸酸甜甜，很多人喜欢”"},
}

var surnames = []string{"杨", "吴", "龙", "石", "潘", "王", "李", "张", "欧", "文"}
var villages = []string{"雷山", "台江", "从江", "榕江", "剑河", "丹寨", "三都", "荔波"}

// boxKey is a repeatable ed25519 key for woman i, so box ids are real
// ones (derived from the key as boxauth derives them).
func boxKey(i int, seed uint64) ed25519.PublicKey {
	var s [ed25519.SeedSize]byte
	binary.BigEndian.PutUint64(s[:], seed)
	binary.BigEndian.PutUint64(s[8:], uint64(i))
	return ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey)
}

// SegmentJSON is a valid segment.json (version 2) for a moment at, box
// device, with the k-th phrase flagged and a clip from 5 s before to 3 s
// after when clip.
func SegmentJSON(id string, at time.Time, k int, clip bool) ([]byte, error) {
	p := phrases[k%len(phrases)]
	lines := []string{"大家好，欢迎来到直播间", p.before + p.match + p.after, "喜欢的朋友点个关注"}
	starts := []float64{-4, -1, 2}
	s := &segment.Segment{
		Version: segment.SchemaVersion, ID: id, Reason: segment.ReasonFinding, Device: "box",
		At: at, Created: at.Add(12 * time.Second), Status: "uploaded", StatusAt: at.Add(40 * time.Second), RulePack: "1",
	}
	off := 0
	for i, l := range lines {
		s.Transcript.Captions = append(s.Transcript.Captions, segment.Caption{At: at.Add(time.Duration(starts[i] * float64(time.Second))),
			Start: starts[i], End: starts[i] + 1.5, Offset: off, Text: l})
		off += len([]rune(l)) + 1
	}
	s.Transcript.Text = strings.Join(lines, segment.CaptionSep)
	begin := len([]rune(lines[0])) + 1 + len([]rune(p.before))
	s.Findings = []segment.Finding{{Category: p.cat, CategoryName: p.catName, Rule: p.rule, Caption: 1,
		Start: begin, End: begin + len([]rune(p.match)), Match: p.match, Law: p.law, Explain: p.explain, Suggest: p.better, At: at}}
	if clip {
		s.Clip = &segment.Clip{File: segment.ClipFile, Start: at.Add(-5 * time.Second), End: at.Add(3 * time.Second), Bytes: 60000}
	} else {
		s.ClipError = "record: no recorded video in the requested range"
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("consoletest: segment %s: %w", id, err)
	}
	return b, nil
}

// SegmentID is a segment id of the box's shape for a moment at.
func SegmentID(at time.Time, n int) string {
	return at.UTC().Format("20060102T150405000Z") + "-" + fmt.Sprintf("%08x", uint32(n))
}

// Build stores spec's dataset in be.
func Build(ctx context.Context, be Backend, spec Spec) (*Data, error) {
	if spec.Workers < 1 || spec.Women < 1 || spec.Days < 1 {
		return nil, fmt.Errorf("consoletest: spec needs workers, women and days: %+v", spec)
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 14))
	d := &Data{New: map[string][]store.SegmentRef{}}
	l := &loader{postgres: be.Postgres}
	now := spec.Now.UTC().Truncate(time.Millisecond)
	for w := range spec.Workers {
		name := fmt.Sprintf("社工%02d", w+1)
		d.Workers = append(d.Workers, name)
		l.add("users", []string{"name", "roles", "hash", "created"}, name, store.RoleSocial, spec.Hash, now.AddDate(0, -6, 0).UnixMicro())
	}
	for i := range spec.Women {
		pub := boxKey(i, spec.Seed)
		wm := Woman{BoxID: boxauth.BoxID(pub), Worker: d.Workers[i%spec.Workers],
			Name: fmt.Sprintf("%s %s村%d %s阿姨", villages[i%len(villages)], villages[(i/3)%len(villages)], i, surnames[i%len(surnames)])}
		d.Women = append(d.Women, wm)
		added := now.AddDate(0, 0, -spec.Days-1).UnixMicro()
		l.add("boxes", []string{"id", "public_key", "name", "added", "revoked"}, wm.BoxID, []byte(pub), wm.Name, added, int64(0))
		l.add("caseload", []string{"box_id", "user_name", "assigned"}, wm.BoxID, wm.Worker, added)
	}
	span := time.Duration(spec.Days) * 24 * time.Hour
	undecided := now.Add(-time.Duration(spec.UndecidedDays) * 24 * time.Hour)
	type newSeg struct {
		ref store.SegmentRef
		at  time.Time
	}
	fresh := map[string][]newSeg{}
	for n := range spec.Segments {
		wm := d.Women[n%len(d.Women)]
		// Lives are in the evening; moments fall anywhere in them.
		at := now.Add(-time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond)
		id := SegmentID(at, n)
		k := rng.IntN(len(phrases))
		js, err := SegmentJSON(id, at, k, spec.ClipKey != "")
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(js)
		received := at.Add(time.Duration(1+rng.IntN(120)) * time.Minute)
		state := store.StateNew
		var decisions [][]any
		if at.After(undecided) {
			fresh[wm.Worker] = append(fresh[wm.Worker], newSeg{store.SegmentRef{BoxID: wm.BoxID, ID: id}, at})
		} else {
			d.Decided++
			state = store.StateReal
			if rng.IntN(3) == 0 {
				state = store.StateFalse
			}
			decided := received.Add(time.Duration(1+rng.IntN(48)) * time.Hour)
			actor := "user:" + wm.Worker
			decisions = append(decisions, []any{wm.BoxID, id, state, store.StateNew, int64(0), actor, decided.UnixMicro()})
			if state == store.StateReal && rng.IntN(2) == 0 {
				decisions = append(decisions, []any{wm.BoxID, id, store.StateCoached, state, int64(0), actor, decided.Add(24 * time.Hour).UnixMicro()})
				state = store.StateCoached
			}
		}
		// The segment row carries its current state as Decide keeps it
		// (migration 00012), before its decisions (foreign keys).
		l.add("segments", []string{"box_id", "id", "sha256", "size", "reason", "at", "json", "json_key", "clip_key", "received", "state"},
			wm.BoxID, id, hex.EncodeToString(sum[:]), int64(len(js)+60000), segment.ReasonFinding, at.UnixMicro(), js,
			"segments/"+wm.BoxID+"/"+id+".json", spec.ClipKey, received.UnixMicro(), state)
		l.add("audit", []string{"at", "actor", "action", "subject", "detail"},
			received.UnixMicro(), "box:"+wm.BoxID, "segment.received", wm.BoxID+"/"+id, "bytes="+strconv.Itoa(len(js)))
		for _, row := range decisions {
			l.add("decisions", []string{"box_id", "segment_id", "state", "prev", "undoes", "actor", "at"}, row...)
		}
	}
	for w, segs := range fresh {
		// Newest first, as the queue lists them (ids break ties).
		slices.SortFunc(segs, func(a, b newSeg) int {
			if c := b.at.Compare(a.at); c != 0 {
				return c
			}
			return strings.Compare(b.ref.ID, a.ref.ID)
		})
		for _, s := range segs {
			d.New[w] = append(d.New[w], s.ref)
		}
	}
	for i, wm := range d.Women {
		for k := range 3 {
			at := now.AddDate(0, 0, -7*(k+1)).Add(time.Duration(i) * time.Minute)
			l.add("notes", []string{"box_id", "text", "author", "at"}, wm.BoxID, "说“价格很实在”就好，不要说“全网最低”。", wm.Worker, at.UnixMicro())
		}
	}
	if err := l.flush(ctx, be.DB); err != nil {
		return nil, err
	}
	// Fresh tables have no statistics yet (PostgreSQL's autovacuum has
	// not come by; SQLite never gathers them unasked): the planners would
	// guess.
	if _, err := be.DB.ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, fmt.Errorf("consoletest: analyze: %w", err)
	}
	return d, nil
}

// loader collects rows per table and writes them in multi-row INSERTs, in
// the order tables were first used (foreign keys), in one transaction.
type loader struct {
	postgres bool
	order    []string
	cols     map[string][]string
	rows     map[string][][]any
}

func (l *loader) add(table string, cols []string, vals ...any) {
	if l.cols == nil {
		l.cols, l.rows = map[string][]string{}, map[string][][]any{}
	}
	if _, ok := l.cols[table]; !ok {
		l.order = append(l.order, table)
		l.cols[table] = cols
	}
	l.rows[table] = append(l.rows[table], vals)
}

// batchParams keeps a statement under SQLite's and PostgreSQL's limits on
// bound parameters (32 766 and 65 535).
const batchParams = 30000

func (l *loader) flush(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("consoletest: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, table := range l.order {
		cols, rows := l.cols[table], l.rows[table]
		per := batchParams / len(cols)
		for len(rows) > 0 {
			n := min(per, len(rows))
			var sb strings.Builder
			args := make([]any, 0, n*len(cols))
			sb.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
			for i, r := range rows[:n] {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteByte('(')
				for j := range cols {
					if j > 0 {
						sb.WriteString(", ")
					}
					args = append(args, r[j])
					if l.postgres {
						sb.WriteString("$" + strconv.Itoa(len(args)))
					} else {
						sb.WriteByte('?')
					}
				}
				sb.WriteByte(')')
			}
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				return fmt.Errorf("consoletest: insert into %s: %w", table, err)
			}
			rows = rows[n:]
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("consoletest: commit: %w", err)
	}
	return nil
}
