// Package overlay puts the product card on the broadcast: the catalogue a
// trainer edits in a spreadsheet, the card drawn for it with a CJK font,
// and per-frame compositing onto the camera's I420 frames.
//
// The three steps and their costs:
//
//	cat, problems, err := overlay.LoadCatalog("商品.csv", "图片")  // once; problems name spreadsheet rows
//	r, err := overlay.NewRenderer(overlay.RenderConfig{FrameWidth: 720, FrameHeight: 1280})
//	comp := overlay.NewCompositor(r, cat, logger)
//	comp.Show(); comp.Next()  // from the button goroutine; renders the card (~20 ms) if new
//	comp.Apply(frame)         // every frame: blending only, no allocation
//
// The catalogue is whatever a trainer's spreadsheet program saves,
// recognised by its content, not its name: .xlsx (first sheet; a zip
// unpacking past 32 MB is refused), CSV or TSV in UTF-8 with or without
// BOM, UTF-16 (Excel's "Unicode text") or GBK as Chinese Excel saves it
// (CRLF fine); an old .xls or a JSON file gets a clear error. A header row
// (after any title rows) names, in any order and in Chinese or English:
// 编号/id, 名称/name, 价格/price, 规格/unit, 链接号/link, 图片/photo and
// 卖点/tagline. Only name and price are required; prices are read the way
// sellers type them (39.9, ￥38, 38元/瓶, 1,280). A bad row is reported with
// its row number and skipped; a missing, broken or oversized photo (more
// than 4096×4096, checked from its header before decoding) is reported and
// the card is drawn with a placeholder instead. Files are opened only when
// regular, so a FIFO never blocks start-up. Checking a card's words against
// the advertising rules is not this package's job: overlay and lint are
// siblings, and firmware/cards composes them. DemoCatalog returns an
// embedded catalogue of Rongjiang products for the simulator.
//
// A card is rendered once per change into RGBA, then converted once into
// I420 planes with alpha (chroma alpha averaged over 2×2), and cut into
// per-row runs that are skipped, copied or blended. Apply therefore costs
// a memmove for opaque runs and one multiply per pixel elsewhere. Show,
// Hide and card changes animate over TransitionDuration (slide and fade),
// driven by frame PTS rather than the wall clock, so the animation is the
// same in a recording as live.
//
// For end-to-end tests, CardRect gives the card's place in a frame,
// Card.DrawOnto renders the expected frame, and Compositor.Identify (built
// on Card.Mismatch) tells which card a decoded frame shows.
//
// Viewers see this overlay; compliance warnings never go here.
package overlay
