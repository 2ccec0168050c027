package app

import (
	"github.com/cunbo/cunbo/firmware/compliance"
	"github.com/cunbo/cunbo/firmware/web"
)

// PhonePage sends the compliance loop's warnings to the phone page's event
// stream (*web.Server.PublishWarning), which never blocks. The card leads
// with the advice and says why in everyday words; the category's legal
// name, the rule's explanation and the law stay one tap away. It lives in
// the wiring layer so that compliance knows nothing of the page.
func PhonePage(s web.WarningSink) compliance.WarningSink {
	return compliance.SinkFunc(func(w compliance.Warning) {
		s.PublishWarning(web.WarningCard{
			ID:           w.ID,
			Said:         w.Said,
			Match:        w.Match,
			Category:     w.Category,
			Rule:         w.Rule,
			CategoryName: w.CategoryName,
			Explain:      w.Explain,
			Why:          compliance.PlainWhy(w.Category),
			Suggest:      w.Suggest,
			Law:          w.Law,
			At:           w.At,
		})
	})
}

// WebCaptions is the captions' status as the phone page shows it.
func WebCaptions(c *compliance.Captions) web.Captions {
	st := c.Status()
	return web.Captions{On: st.On, Reason: st.Reason}
}
