package app

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/firmware/cards"
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/pipeline"
	"github.com/cunbo/cunbo/firmware/web"
	"github.com/cunbo/cunbo/hw"
	"github.com/cunbo/cunbo/overlay"
	"github.com/cunbo/cunbo/stream/whep"
)

// Spec is one box, whoever builds it: `cunbo run` fills it from the
// configuration file (FromConfig), `cunbo sim` from its flags. They differ
// only in the sources (camera and microphone or test pattern and looping
// speech, GPIO or a virtual panel) and in what they do around Run; every
// rule about the catalogue, the flagged-moment quota, the PIN and uploads
// is Build's, so a behaviour seen in the simulator is the box's.
type Spec struct {
	// Pipeline is the media pipeline's configuration: sources,
	// destinations, recording. Build adds the catalogue and the first
	// card, and the logger.
	Pipeline pipeline.Config
	// Catalogue is the trainer's product catalogue (XLSX, CSV or TSV);
	// Photos the folder of its photos (default: the catalogue's folder).
	Catalogue, Photos string
	// DemoCatalogue shows the built-in demo catalogue when Catalogue is
	// empty (the simulator); a box without one streams without cards.
	DemoCatalogue bool
	// FirstCard is the card shown from the start, from 0; negative starts
	// with the card hidden. A catalogue without cards starts hidden.
	FirstCard int
	// RulePack checks the cards' words and the captions; empty means the
	// built-in rules.
	RulePack string
	// Speech is the recogniser's model directory (empty: captions off)
	// and, optionally, where the VAD model and the worker are.
	SpeechModel, SpeechVAD, SpeechWorker string
	// FlaggedDir keeps the flagged moments; empty means warnings only.
	// Their quota is FlaggedQuota of the recording's.
	FlaggedDir string
	// StateDir holds the box's key and upload queue.
	StateDir string
	// ReviewURL is the review service flagged moments are uploaded to
	// while idle; empty keeps them on the box.
	ReviewURL string
	DeviceID  string

	Panel       Panel
	RingOnLevel hw.Level
	// HTTPAddr is the phone page's address (empty: none) and PIN its
	// password, which must pass bundle.CheckPIN.
	HTTPAddr, PIN string
	// Destination is where the stream goes as the page shows it, keys
	// masked (package secret).
	Destination string
	Preview     whep.Config
	// Problems are setup mistakes found before Build (the configuration's);
	// Build adds the catalogue's.
	Problems []web.SetupProblem
	Logger   *slog.Logger
}

// FlaggedQuota is the disk the flagged moments may take: a quarter of the
// recording's, so the moments kept for the social worker never crowd out
// the recording they are cut from.
func FlaggedQuota(recordQuota int64) int64 { return recordQuota / 4 }

// CheckPIN is the phone page's PIN rule for every box: "" when pin is
// acceptable, else what is wrong in plain Chinese (bundle.CheckPIN).
func CheckPIN(pin string) error {
	if msg := bundle.CheckPIN(pin); msg != "" {
		return fmt.Errorf("app: %s (the phone page's PIN is refused)", msg)
	}
	return nil
}

// Build makes the box a Spec describes, not yet running: the catalogue
// with the cards that pass the rules, the pipeline, the caption checker
// with its flagged moments, the uploader. On an error the sources are
// closed.
func Build(s Spec) (Options, error) {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	closeSources := func() {
		// The pipeline closes its sources only from Run.
		if s.Pipeline.Video != nil {
			_ = s.Pipeline.Video.Close()
		}
		if s.Pipeline.Audio != nil {
			_ = s.Pipeline.Audio.Close()
		}
	}
	fail := func(err error) (Options, error) {
		closeSources()
		if s.Panel.Close != nil {
			_ = s.Panel.Close()
		}
		return Options{}, err
	}
	if s.Pipeline.Audio == nil || s.Pipeline.Video == nil {
		return fail(errors.New("app: a box needs a camera and a microphone"))
	}
	if s.HTTPAddr != "" {
		if err := CheckPIN(s.PIN); err != nil {
			return fail(err)
		}
	}
	cat, catProblems, err := LoadCatalog(s.Catalogue, s.Photos, s.DemoCatalogue, s.RulePack, log)
	if err != nil {
		return fail(err)
	}
	first := s.FirstCard
	if cat.Len() == 0 {
		first = -1 // no card to show: start hidden rather than refuse to run
	}
	if first >= cat.Len() {
		return fail(fmt.Errorf("app: 没有第 %d 个商品，商品目录只有 %d 个商品 (card %d: the catalogue has %d products)",
			first+1, cat.Len(), first+1, cat.Len()))
	}
	pc := s.Pipeline
	pc.Catalog, pc.InitialCard = cat, first
	if pc.Logger == nil {
		pc.Logger = log.With("part", "pipeline")
	}
	pl, err := pipeline.New(pc)
	if err != nil {
		return fail(fmt.Errorf("app: %w", err))
	}
	caps, err := compliance.NewBox(compliance.BoxConfig{
		ModelDir: s.SpeechModel, VADModel: s.SpeechVAD, WorkerPath: s.SpeechWorker, RulePack: s.RulePack,
		FlaggedDir: s.FlaggedDir, FlaggedQuota: FlaggedQuota(s.Pipeline.RecordQuota),
		Device: s.DeviceID, Recorder: pl.Recorder(), Mic: s.Pipeline.Audio.Format(),
		Logger: log.With("part", "compliance"),
	})
	if err != nil {
		return fail(fmt.Errorf("app: %w", err))
	}
	opts := Options{
		Pipeline: pl, Panel: s.Panel, RingOnLevel: s.RingOnLevel, HTTPAddr: s.HTTPAddr, PIN: s.PIN,
		Destination: s.Destination, Compliance: caps, Preview: s.Preview,
		Problems: append(append([]web.SetupProblem(nil), s.Problems...), catProblems...),
		Logger:   log, DeviceID: s.DeviceID,
	}
	if s.ReviewURL != "" {
		opts.ReviewURL = s.ReviewURL
		// Uploads are not worth a box that cannot stream: without them
		// the segments stay on the SD card.
		if opts.Uploader, err = NewUploader(s.ReviewURL, s.StateDir, caps, log.With("part", "upload")); err != nil {
			log.Error("no uploads to the review service; flagged moments stay on the box", "err", err)
		}
		// Notes from her social worker come the same way, signed in with
		// the same key; without them the box still streams.
		if opts.Notes, err = NewNotes(s.ReviewURL, s.StateDir, log.With("part", "notes")); err != nil {
			log.Error("no notes from the review service", "err", err)
		}
		if opts.Heartbeat, err = NewHeartbeat(s.ReviewURL, s.StateDir, log.With("part", "heartbeat")); err != nil {
			log.Error("no heartbeats to the review service", "err", err)
		}
		if opts.Bundles, err = NewBundleClient(s.ReviewURL, s.StateDir); err != nil {
			log.Error("no setup bundles from the review service; the USB stick still works", "err", err)
		}
	}
	return opts, nil
}

// LoadCatalog reads the catalogue (or, with demo and no path, the
// built-in demo) with its photos, and keeps the cards whose words pass
// the box's rule pack. A box without a usable catalogue still streams,
// without cards; the problems say why. The error is only for the
// built-in rules or demo failing (a broken build).
func LoadCatalog(path, photos string, demo bool, rulePack string, log *slog.Logger) (*overlay.Catalog, []web.SetupProblem, error) {
	if path == "" && !demo {
		return nil, nil, nil
	}
	lt, err := compliance.LoadLinter(rulePack, log)
	if err != nil {
		return nil, nil, fmt.Errorf("app: card rules: %w", err)
	}
	var cat *overlay.Catalog
	var problems []web.SetupProblem
	if path == "" {
		d, err := overlay.DemoCatalog()
		if err != nil {
			return nil, nil, fmt.Errorf("app: demo catalogue: %w", err)
		}
		cat, problems = cards.Check(d, "", lt)
	} else {
		if photos == "" {
			photos = filepath.Dir(path)
		}
		cat, problems = cards.Load(path, photos, lt)
	}
	for _, p := range problems {
		log.Warn("catalogue", "where", p.Where, "problem", p.Message, "hint", p.Hint)
	}
	log.Info("product cards", "catalogue", path, "cards", cat.Len(), "problems", len(problems))
	return cat, problems, nil
}
