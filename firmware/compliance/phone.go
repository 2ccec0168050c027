package compliance

import "github.com/cunbo/cunbo/firmware/web"

// PhonePage sends warnings to the phone page's event stream
// (*web.Server.PublishWarning), which never blocks.
func PhonePage(s web.WarningSink) WarningSink {
	return SinkFunc(func(w Warning) {
		s.PublishWarning(web.Warning{
			Said:         w.Said,
			Match:        w.Match,
			Category:     w.Category,
			CategoryName: w.CategoryName,
			Explain:      w.Explain,
			Suggest:      w.Suggest,
			Law:          w.Law,
			At:           w.At,
		})
	})
}

// WebCaptions is the captions' status as the phone page shows it.
func (c *Captions) WebCaptions() web.Captions {
	st := c.Status()
	return web.Captions{On: st.On, Reason: st.Reason}
}
