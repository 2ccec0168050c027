package console

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cunbo/cunbo/review/store"
)

// auditPageSize is one page of the audit log on screen.
const auditPageSize = 50

// auditBatch is how many entries the CSV export reads at a time: the
// export streams, so a long log never sits in memory whole.
const auditBatch = 1000

// auditQuery is the audit page's filter as the form carries it.
type auditQuery struct {
	Who, Action, From, To string
	Before                int64
}

// parse turns the form into a store filter; the error is for the page.
func (q auditQuery) filter(limit int) (store.AuditFilter, string) {
	f := store.AuditFilter{Action: q.Action, Before: q.Before, Limit: limit}
	if q.Who != "" {
		f.Actor = q.Who
		// People are "user:<name>"; boxes ("box:<id>") and the command
		// line ("cli") are typed as they are.
		if !strings.Contains(q.Who, ":") && q.Who != "cli" {
			f.Actor = "user:" + q.Who
		}
	}
	for _, d := range []struct {
		s   string
		t   *time.Time
		add int
	}{{q.From, &f.From, 0}, {q.To, &f.To, 1}} {
		if d.s == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, d.s, china)
		if err != nil {
			return f, "日期要写成 2026-12-06 这样（年-月-日）。"
		}
		*d.t = t.AddDate(0, 0, d.add) // the "to" day counts whole
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, "开始的日期要早于（或等于）结束的日期。"
	}
	return f, ""
}

func readAuditQuery(r *http.Request) (auditQuery, string) {
	v := r.URL.Query()
	q := auditQuery{Who: strings.TrimSpace(v.Get("who")), Action: strings.TrimSpace(v.Get("action")),
		From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to"))}
	if len(q.Who) > 200 || len(q.Action) > 100 {
		return q, "要找的名字或操作太长了。"
	}
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return q, "翻页的链接不对。请回到第一页。"
		}
		q.Before = n
	}
	return q, ""
}

// values is the query string of q without its page.
func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"who": q.Who, "action": q.Action, "from": q.From, "to": q.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

type auditRow struct {
	Seq                                      int64
	At, Actor, Action, What, Subject, Detail string
}

type auditData struct {
	Q       auditQuery
	Rows    []auditRow
	Next    string // the next (older) page; "" on the last
	First   string // the first page with the same filter, when not on it
	CSV     string
	Actions []string
	Error   string
}

// auditActions are offered in the action filter; any other can be typed.
var auditActions = []string{"user.login", "user.logout", "user.add", "segment.view", "clip.view", "segment.decide",
	"segment.undo", "segment.escalate", "note.add", "box.assign", "box.revoke", "audit.view", "audit.export", "users.view", "boxes.view",
	"practice.view", "practice.assess", "practice.ready", "woman.view", "rules.view", "fleet.view", "box.enrol", "box.replace",
	"provision.view", "provision.upload", "provision.preview", "bundle.download", "bundle.publish", "bundle.fetch"}

// actionWords say an action in plain words beside its code (the code is
// what the filter and the export use).
var actionWords = map[string]string{
	"user.login": "登录", "user.logout": "退出", "user.add": "建了账号", "segment.view": "看了一段", "clip.view": "放了视频",
	"segment.decide": "做了判断", "segment.undo": "撤销了判断", "segment.escalate": "转给了同事", "note.add": "给她留了话",
	"note.fetch": "盒子取了留言", "note.read": "她读了留言", "box.assign": "分配了盒子", "box.revoke": "停用了盒子",
	"box.add": "登记了盒子", "audit.view": "看了操作记录", "audit.export": "下载了操作记录", "users.view": "看了账号",
	"boxes.view": "看了盒子", "segment.received": "收到一段", "session.received": "收到直播记录",
	"practice.view": "看了一次练习", "practice.assess": "给练习评了分", "practice.ready": "定了能不能正式直播",
	"woman.view": "看了她的进步", "rules.view": "看了规则准不准", "clip.poster": "看了片段的画面", "fleet.view": "看了盒子好不好",
	"box.enrol": "登记了盒子", "box.replace": "换了新盒子", "provision.view": "打开了做设置包", "provision.upload": "传了商品表",
	"provision.preview": "看了设置包的卡片", "bundle.download": "下载了设置包", "bundle.publish": "把设置包发给了盒子",
	"bundle.fetch": "盒子取了设置包", "retention.segments": "到期删了片段", "retention.clips": "到期删了视频",
	"retention.sessions": "到期删了直播记录", "retention.drafts": "到期删了设置包草稿", "forget.segments": "删了她的片段",
	"forget.sessions": "删了她的直播记录", "forget.console": "删了她的留言和判断",
}

// fullTime is when an entry was written, to the second, in China's time.
func fullTime(t time.Time) string { return t.In(china).Format("2006-01-02 15:04:05") }

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, u who) {
	q, msg := readAuditQuery(r)
	d := auditData{Q: q, Actions: auditActions}
	f, fmsg := q.filter(auditPageSize + 1)
	if msg == "" {
		msg = fmsg
	}
	p := page{Title: "操作记录", User: &u.user, CSRF: u.session.CSRF, Data: &d}
	if msg != "" {
		d.Error = msg
		c.render(w, http.StatusBadRequest, "admin_audit.html", p)
		return
	}
	es, err := c.st.AuditPage(r.Context(), f)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "audit.view", "", "filter="+strconv.Quote(q.values().Encode()))
	v := q.values()
	d.CSV = Prefix + "admin/audit.csv"
	if len(v) > 0 {
		d.CSV += "?" + v.Encode()
	}
	if len(es) > auditPageSize {
		es = es[:auditPageSize]
		v.Set("before", strconv.FormatInt(es[len(es)-1].Seq, 10))
		d.Next = Prefix + "admin/audit?" + v.Encode()
		v.Del("before")
	}
	if q.Before != 0 {
		d.First = Prefix + "admin/audit"
		if len(v) > 0 {
			d.First += "?" + v.Encode()
		}
	}
	for _, e := range es {
		d.Rows = append(d.Rows, auditRow{Seq: e.Seq, At: fullTime(e.At), Actor: e.Actor, Action: e.Action, What: actionWords[e.Action], Subject: e.Subject, Detail: e.Detail})
	}
	c.render(w, http.StatusOK, "admin_audit.html", p)
}

// csvCell keeps a cell from being read as a formula by a spreadsheet (the
// log holds names and reasons people typed).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *Console) auditCSV(w http.ResponseWriter, r *http.Request, u who) {
	q, msg := readAuditQuery(r)
	q.Before = 0
	f, fmsg := q.filter(auditBatch)
	if msg == "" {
		msg = fmsg
	}
	if msg != "" {
		c.fail(w, r, http.StatusBadRequest, msg+" 请回到上一页改一下。")
		return
	}
	// The export is written to the log before any of it leaves, and not
	// at all when the log cannot take it.
	now := c.now()
	e := store.AuditEntry{At: now, Actor: u.actor(), Action: "audit.export", Subject: "",
		Detail: "filter=" + strconv.Quote(q.values().Encode()) + " from=" + from(r)}
	if err := c.st.AppendAudit(r.Context(), e); err != nil {
		c.internal(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="cunbo-audit-`+now.In(china).Format("20060102-150405")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	// A byte-order mark, so a spreadsheet on a county office's Windows
	// reads the Chinese as UTF-8.
	w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	cw.Write([]string{"seq", "time (Beijing)", "who", "action", "subject", "detail"})
	for {
		es, err := c.st.AuditPage(r.Context(), f)
		if err != nil {
			// The header is out: all that is left is to cut the file
			// short visibly rather than end it as if complete.
			c.log.Error("console: audit export", "err", err)
			cw.Write([]string{"", "", "", "export.failed", "", "the export stopped here: " + err.Error()})
			cw.Flush()
			return
		}
		for _, e := range es {
			cw.Write([]string{strconv.FormatInt(e.Seq, 10), fullTime(e.At), csvCell(e.Actor), csvCell(e.Action), csvCell(e.Subject), csvCell(e.Detail)})
		}
		if len(es) < f.Limit {
			break
		}
		f.Before = es[len(es)-1].Seq
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		c.log.Info("console: audit export cut short", "err", err)
	}
}
