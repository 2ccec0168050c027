package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cunbo/cunbo/firmware/state"
)

// PracticeSource is the box's practice lab as the phone page sees it.
type PracticeSource interface {
	PracticeView() PracticeView
	// ChoosePractice makes the next practice take the scenario with this
	// id (one of PracticeView.Scenarios); "" takes the next in turn. An
	// id the box does not have wraps ErrUnknownScenario.
	ChoosePractice(id string) error
}

// ErrUnknownScenario: the phone named a scenario the box does not have (a
// list loaded before a new setup bundle changed the scenarios).
var ErrUnknownScenario = errors.New("web: no such practice scenario")

// PracticeView is GET /api/practice: the scenarios she may choose from,
// the practice under way, with the simulated customers' comments that
// have come up so far, and the last practice's report.
type PracticeView struct {
	Active bool `json:"active"`
	// Scenario is the name of the practice under way or, idle, of the
	// one the next practice takes in turn.
	Scenario string `json:"scenario,omitempty"`
	// Scenarios are all she may choose from, in turn order; Next is the
	// id of the one that comes next in turn.
	Scenarios []PracticeScenario `json:"scenarios"`
	Next      string             `json:"next,omitempty"`
	Elapsed   float64            `json:"elapsed,omitempty"`  // seconds since it began
	Comments  []PracticeComment  `json:"comments,omitempty"` // oldest first
	Report    *PracticeReport    `json:"report,omitempty"`
}

// PracticeScenario is one scenario as her list shows it.
type PracticeScenario struct {
	// ID names it in POST /api/practice/start; it changes with the
	// scenario's content, so a list from before a new bundle is refused
	// rather than starting a different lesson under the old name.
	ID        string   `json:"id"`
	Icon      string   `json:"icon"`
	Name      string   `json:"name"`      // without the icon
	Questions int      `json:"questions"` // comments that want an answer
	Products  []string `json:"products"`  // product names, first asked first
}

// PracticeComment is one simulated customer's comment or question.
type PracticeComment struct {
	From string  `json:"from"`
	Text string  `json:"text"`
	At   float64 `json:"at"` // seconds after the start
	// Within is how long she has to answer; 0 for a comment.
	Within float64 `json:"within,omitempty"`
}

// PracticeReport is her report on the last practice.
type PracticeReport struct {
	Start   time.Time       `json:"start"`
	End     time.Time       `json:"end"`
	Good    []PracticePoint `json:"good"`
	Next    []PracticePoint `json:"next"`
	Missing string          `json:"missing,omitempty"`
}

// PracticePoint is one line of the report.
type PracticePoint struct {
	Icon string `json:"icon"`
	Text string `json:"text"`
}

func (s *Server) practice(w http.ResponseWriter, r *http.Request) {
	if s.opts.Practice == nil {
		writeJSON(w, http.StatusOK, PracticeView{Scenarios: []PracticeScenario{}})
		return
	}
	v := s.opts.Practice.PracticeView()
	if v.Scenarios == nil {
		v.Scenarios = []PracticeScenario{}
	}
	writeJSON(w, http.StatusOK, v)
}

// practiceStart is POST /api/practice/start {"scenario": id}: she chose a
// scenario from her list (or "" for the next in turn). Only an idle box
// starts one; a refusal says why in her words and starts nothing.
func (s *Server) practiceStart(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	var body struct {
		Scenario string `json:"scenario"`
	}
	data, err := io.ReadAll(r.Body)
	if err == nil && len(bytes.TrimSpace(data)) > 0 { // no body: the next in turn
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		badBody(w, err)
		return
	}
	if s.opts.Practice == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "这个盒子不能练习 (no practice on this box)"})
		return
	}
	if st := s.opts.Box.Status().State; st != state.Idle {
		writeJSON(w, http.StatusConflict, map[string]string{"error": notIdleForPractice(st)})
		return
	}
	id := strings.TrimSpace(body.Scenario)
	if err := s.opts.Practice.ChoosePractice(id); err != nil {
		if !errors.Is(err, ErrUnknownScenario) {
			s.log.Error("practice: choice", "scenario", id, "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "内部错误"})
			return
		}
		// Her list is old (a new bundle came): she gets the new one to
		// choose from again.
		s.log.Warn("practice: unknown scenario chosen", "scenario", id)
		v := s.opts.Practice.PracticeView()
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":     "这个练习盒子上已经没有了，请重新选一个 (unknown scenario)",
			"scenarios": v.Scenarios,
		})
		return
	}
	s.log.Info("phone page: practice", "scenario", id)
	if err := s.opts.Box.Post(state.PracticeStart, ""); err != nil {
		_ = s.opts.Practice.ChoosePractice("")
		s.log.Warn("phone page practice dropped: the box is busy", "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "盒子正忙，请再按一次 (box busy, press again)"})
		return
	}
	time.AfterFunc(150*time.Millisecond, func() { s.hub.broadcast(event{}) })
	writeJSON(w, http.StatusOK, map[string]string{"event": string(state.PracticeStart), "scenario": id})
}

// notIdleForPractice says why a practice cannot start now.
func notIdleForPractice(st state.State) string {
	switch {
	case st == state.Practice:
		return "已经在练习了 (already practising)"
	case onAir(st) || st == state.Starting || st == state.Ending:
		return "正在直播，不能练习。下播以后再练 (live now)"
	}
	return "盒子现在不能练习，请等一会儿再试 (box not idle)"
}
