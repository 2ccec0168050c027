// Package pipeline assembles the box's media pipeline out of the stream,
// overlay and hw libraries and implements firmware.Pipeline:
//
//	video source ─▶ overlay compositor ─▶ encoder ─▶ GOP cache ─▶ fan-out ─┬─ RTMP/WHIP publishers (while live)
//	audio source ─┬────────────────────▶ encoder                          ├─ recorder            (while live)
//	              └─▶ audio taps (speech worker)                          ├─ RTSP preview        (always)
//	                                                                      └─ AddOutput (WebRTC preview, …)
//
// Run keeps the capture, the compositor, the encoder and the local preview
// going while anyone needs them, so the streamer can frame herself and
// rehearse the cards on her phone before she goes live. When the box is not
// live and nobody watches a preview (no RTSP reader, no WebRTC viewer) for
// Config.IdleAfter, the video capture and the ffmpeg encoder stop, so an
// idle box costs next to nothing; GoLive, an RTSP DESCRIBE or a WebRTC offer
// (Wake) start them again at once, and outputs keep the last tracks
// meanwhile so a viewer's session set-up does not wait for the encoder.
// Recording is tied to being live: the recorder keeps what went on air, not
// the minutes of setting up before it.
//
// While live, one bitrate controller (stream/adapt) watches every
// publisher's link and moves the one encoder's bitrate, and below set
// rates its picture size and frame rate, to what the weakest link carries;
// the encoder switches at a keyframe without a gap. A link watcher
// (stream/linkwatch) makes waiting publishers retry the moment the network
// comes back. Off air the encoder returns to the configured output, so the
// preview is full quality again.
//
// Each part degrades on its own: a catalogue that cannot be rendered means no
// card, a preview port in use means no preview, a recorder that cannot open
// its directory means no recording, and a dead RTMP server means that output
// reconnects while the others carry on. All of it is logged; only a missing
// or broken encoder stops Run.
//
// # Locking
//
// Six mutexes guard the Pipeline; everything else it shares is an atomic
// or is set in New and never changed.
//
//   - opMu serialises going live and ending (GoLive's set-up, End). It is
//     held across slow work: starting publishers, waiting for them to stop.
//   - sessMu guards the media session (sessCancel, sessDone): starting,
//     pausing and resuming capture and the encoder. stopSessionLocked waits
//     for the session's goroutines under it, so they must never take it.
//   - liveMu guards live, pubs, ended and liveEnd; held only briefly.
//   - viewersMu guards viewers (outputs that count their viewers).
//   - tapMu guards taps and nextID (the audio taps).
//   - marksMu guards marks.
//
// Order: opMu and sessMu are the outer locks and are never held together
// (GoLive calls Wake before it takes opMu). Under opMu, liveMu may be taken;
// under sessMu, liveMu and viewersMu (the idle check). liveMu, viewersMu,
// tapMu and marksMu are leaves: none of these six is taken while one of them
// is held, and no caller's callback runs under them (a publisher's kick,
// under liveMu, takes only the publisher's own lock). The GOP cache's lock (stream/fanout) and
// the adaptation state's are taken under opMu or sessMu, never the reverse.
package pipeline
