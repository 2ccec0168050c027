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
// The catalogue is CSV (UTF-8 with or without BOM, or GBK as Chinese Excel
// saves it; CRLF fine) with a header row naming, in any order and in
// Chinese or English: 编号/id, 名称/name, 价格/price, 规格/unit, 链接号/link,
// 图片/photo and 卖点/tagline. Only name and price are required. A bad row is
// reported with its row number and skipped; a missing or broken photo is
// reported and the card is drawn with a placeholder instead. DemoCatalog
// returns an embedded catalogue of Rongjiang products for the simulator.
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
