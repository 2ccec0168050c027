package web

import "time"

// Setup is the box's own part of the page for the trainer: who the box
// is (its key's fingerprint and a QR code of the key, to enroll it by
// scanning) and what became of the last setup bundle.
type Setup struct {
	// Fingerprint is the box key's short fingerprint (bundle.Fingerprint).
	Fingerprint string `json:"fingerprint"`
	// QR is a data: URI of an image of the QR code.
	QR string `json:"qr"`
	// Enrol is the QR's text (bundle.EnrolText), for the page's copy
	// button: a trainer pastes it into the console on the same phone.
	Enrol string `json:"enrol"`
	// EnrolURL opens the console's page to add this box, its identity
	// filled in; "" when the box knows no review service.
	EnrolURL string `json:"enrol_url,omitempty"`
	// Version is the setup version in use; 0 for the factory one.
	Version uint64 `json:"version"`
	// Outcome is what became of the last bundle, in plain Chinese; ""
	// when none came yet. OutcomeOK says whether it went well.
	Outcome   string     `json:"outcome,omitempty"`
	OutcomeOK bool       `json:"outcome_ok"`
	OutcomeAt *time.Time `json:"outcome_at,omitempty"`
	// Trust says which organisation the box takes bundles from, or that
	// its first one must come on a USB stick.
	Trust string `json:"trust"`
}
