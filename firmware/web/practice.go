package web

import (
	"net/http"
	"time"
)

// PracticeSource is the box's practice lab as the phone page sees it.
type PracticeSource interface {
	PracticeView() PracticeView
}

// PracticeView is GET /api/practice: the practice under way, with the
// simulated customers' comments that have come up so far, and the last
// practice's report.
type PracticeView struct {
	Active   bool              `json:"active"`
	Scenario string            `json:"scenario,omitempty"`
	Elapsed  float64           `json:"elapsed,omitempty"`  // seconds since it began
	Comments []PracticeComment `json:"comments,omitempty"` // oldest first
	Report   *PracticeReport   `json:"report,omitempty"`
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
		writeJSON(w, http.StatusOK, PracticeView{})
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Practice.PracticeView())
}
